//! AWS Lambda function `backup`: a scheduled event or `{}` backs up with the environment's
//! defaults, `{"schema": "sales"}` one schema on demand. See `streamdump::lambda`.

fn main() -> Result<(), lambda_runtime::Error> {
    streamdump::lambda::main(streamdump::lambda::Function::Backup)
}
