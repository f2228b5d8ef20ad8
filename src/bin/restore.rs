//! AWS Lambda function `restore`: replays a manifest into a target database, every chunk
//! verified. See `streamdump::lambda`.

fn main() -> Result<(), lambda_runtime::Error> {
    streamdump::lambda::main(streamdump::lambda::Function::Restore)
}
