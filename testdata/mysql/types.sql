-- Type matrix for the MySQL/MariaDB engine: every column type family MariaDB 10.11 has, with the
-- edge values of each, and the table shapes a restore needs more than LOAD DATA for.
--
-- Load into an empty database (the script names no database):
--   mariadb --no-defaults --default-character-set=utf8mb4 <db> < testdata/mysql/types.sql
-- tests/mysql_roundtrip.rs loads it, backs it up, restores it under another name and compares
-- server-computed fingerprints (row count, CHECKSUM TABLE, ordered hash) of every table.
--
-- The session is deliberately hostile to a careless dump: a permissive sql_mode (zero dates,
-- partial dates), a non-UTC time_zone while TIMESTAMPs are written (they are stored in UTC; a dump
-- and a load under different zones shift them), and string literals full of the bytes LOAD DATA
-- treats specially (tab, newline, CR, backslash, NUL, 0x1A, the text \N).

SET NAMES utf8mb4;
SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION';
SET SESSION time_zone = '+05:30';

-- Every integer width, signed and unsigned, at both ends; ZEROFILL; BOOLEAN holding 2.
CREATE TABLE integers (
    id INT NOT NULL PRIMARY KEY,
    ti TINYINT, tiu TINYINT UNSIGNED,
    si SMALLINT, siu SMALLINT UNSIGNED,
    mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
    i INT, iu INT UNSIGNED,
    bi BIGINT, biu BIGINT UNSIGNED,
    zf INT(6) UNSIGNED ZEROFILL,
    flag BOOLEAN
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO integers VALUES
 (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, 0, 0),
 (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,
     9223372036854775807, 18446744073709551615, 4294967295, 1),
 (3, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 42, 2),
 (4, -1, 128, -1, 32768, -1, 8388608, -1, 2147483648, -1, 9223372036854775808, 1, -1),
 (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- DECIMAL at full precision and small ones; FLOAT and DOUBLE extremes. MariaDB prints a FLOAT
-- with 6 significant digits (16777217 -> 16777200, 3.402823466e38 -> 3.40282e38): a dump that
-- writes the server's FLOAT text does not round-trip. -0 is normalised to 0 by the server on
-- store, but is written here anyway.
CREATE TABLE decimals (
    id INT NOT NULL PRIMARY KEY,
    d65 DECIMAL(65,30),
    d52 DECIMAL(5,2),
    d10 DECIMAL(10,0) UNSIGNED,
    d11 DECIMAL(1,1),
    f FLOAT,
    d DOUBLE,
    f73 FLOAT(7,3),
    dd DOUBLE(20,10)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO decimals VALUES
 (1, 99999999999999999999999999999999999.999999999999999999999999999999, 999.99, 9999999999, 0.9,
     3.402823466e38, 1.7976931348623157e308, 9999.999, 9999999999.9999999999),
 (2, -99999999999999999999999999999999999.999999999999999999999999999999, -999.99, 0, -0.9,
     -3.402823466e38, -1.7976931348623157e308, -9999.999, -9999999999.9999999999),
 (3, 0.000000000000000000000000000001, 0.01, 1, 0.1,
     1.17549435e-38, 2.2250738585072014e-308, 0.001, 0.0000000001),
 (4, -0.000000000000000000000000000001, -0.01, 1, -0.1,
     1.401298464e-45, 4.9e-324, -0.001, -0.0000000001),
 (5, 0, 0, 0, 0, -0e0, -0e0, 0, 0),
 (6, 3.141592653589793238462643383279, 3.14, 31415, 0.3,
     16777217, 0.30000000000000004, 3.142, 3.1415926536),
 (7, 12345678901234567890.123456789012345678901234567890, 123.45, 1234567890, 0.5,
     0.1, 0.1, 123.456, 1234567890.0123456789),
 (8, NULL, NULL, NULL, NULL, 1.0000001, 1e22, NULL, NULL),
 (9, 1, 1, 1, 0.1, 123456.789, -1e-300, 1, 1),
 (10, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- BIT(1), BIT(8) and BIT(64): hex-encoded in the dump.
CREATE TABLE bits (
    id INT NOT NULL PRIMARY KEY,
    b1 BIT(1), b8 BIT(8), b64 BIT(64)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO bits VALUES
 (1, b'0', b'00000000', b'0'),
 (2, b'1', b'11111111', b'1111111111111111111111111111111111111111111111111111111111111111'),
 (3, b'1', b'00001001', b'1000000000000000000000000000000000000000000000000000000000000000'),
 (4, b'0', b'00001010', x'5C4E0A0D09001A5C'),
 (5, NULL, b'01011100', b'1'),
 (6, b'1', NULL, NULL);

-- Temporal types. TIMESTAMPs are written under time_zone +05:30 (set above), so
-- '1970-01-01 05:30:01.000000' is the smallest TIMESTAMP, 00:00:01 UTC. Zero and partial dates
-- are legal under this script's sql_mode and must be loadable on restore.
CREATE TABLE temporals (
    id INT NOT NULL PRIMARY KEY,
    d DATE,
    t TIME,
    t6 TIME(6),
    dt DATETIME,
    dt6 DATETIME(6),
    ts6 TIMESTAMP(6) NULL DEFAULT NULL,
    ts TIMESTAMP NULL DEFAULT NULL,
    y YEAR
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO temporals VALUES
 (1, '1000-01-01', '-838:59:59', '-838:59:59.000000', '1000-01-01 00:00:00',
     '1000-01-01 00:00:00.000000', '1970-01-01 05:30:01.000000', '1970-01-01 05:30:01', 1901),
 (2, '9999-12-31', '838:59:59', '838:59:59.000000', '9999-12-31 23:59:59',
     '9999-12-31 23:59:59.999999', '2038-01-19 08:44:07.999999', '2038-01-19 08:44:07', 2155),
 (3, '0000-00-00', '00:00:00', '00:00:00.000000', '0000-00-00 00:00:00',
     '0000-00-00 00:00:00.000000', '0000-00-00 00:00:00.000000', '0000-00-00 00:00:00', 0),
 (4, '2024-02-29', '-00:00:01', '-00:00:00.000001', '2024-02-29 12:34:56',
     '2024-02-29 12:34:56.123456', '2024-02-29 12:34:56.123456', '2024-03-31 02:30:00', 2024),
 (5, '2024-00-00', '100:00:00', '24:00:00.500000', '2024-00-15 00:00:00',
     '2024-07-00 01:02:03.000004', '2000-01-01 00:00:00.000001', '2021-03-28 01:30:00', 1970),
 (6, '0001-01-01', '-12:34:56', '12:34:56.789012', '0001-01-01 00:00:01',
     '1969-12-31 23:59:59.999999', '2009-02-14 05:01:30.000000', '2009-02-14 05:01:30', 2000),
 (7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- Text in utf8mb4: every byte LOAD DATA escapes, the literal text \N and the word NULL, the empty
-- string beside NULL, trailing spaces, 4-byte characters, and a value longer than a 64 KiB chunk.
CREATE TABLE texts_utf8mb4 (
    id INT NOT NULL PRIMARY KEY,
    c CHAR(10),
    v VARCHAR(200),
    tt TINYTEXT,
    t TEXT,
    mt MEDIUMTEXT,
    vbin VARCHAR(50) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO texts_utf8mb4 VALUES
 (1, 'tab\there', 'tab\there', 'a\tb', 'tab\there\t', 'x', 'A'),
 (2, 'new\nline', 'new\nline', '\n', 'line1\nline2\n', '\n\n', 'a'),
 (3, 'cr\rhere', 'carriage\rreturn', '\r', '\r\n\r\n', 'crlf\r\n', 'B'),
 (4, 'back\\', 'back\\slash \\\\ end\\', '\\', 'C:\\path\\to\\file', '\\\\', 'b'),
 (5, '\\N', '\\N', '\\N', '\\N', '\\N', '\\N'),
 (6, 'NULL', 'NULL', 'NULL', 'NULL', 'null', 'NULL'),
 (7, '', '', '', '', '', ''),
 (8, NULL, NULL, NULL, NULL, NULL, NULL),
 (9, 'emoji😀', 'emoji 😀🎉👩‍👩‍👧 ünïcödé 中文 עברית ﷽', 'é (e+U+0301) é', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '😀', '😀'),
 (10, 'nul\0x', 'nul\0byte\0', '\0', 'ctrl-z\Zend', '\Z', '\0\Z'),
 (11, 'quote\'s', 'single \' double " backtick ` end', '"', '\'', '`', '\''),
 (12, '  pad', 'trailing spaces   ', ' ', '  both  ', '   ', 'x   '),
 (13, 'mix', 'mixed\t\n\r\\\0\Z\\N end', '\t\\N\t', '\\t is not a tab', '\\\n', '\\0'),
 (14, 'long', 'long', 'long', REPEAT('long text with a tab\t and newline\n ', 1800),
      REPEAT('€ü😀\\', 30000), 'long');

-- The same in a latin1 table: the high half of latin1 (MariaDB's latin1 is cp1252, every byte
-- defined), accented letters, the euro sign.
CREATE TABLE texts_latin1 (
    id INT NOT NULL PRIMARY KEY,
    c CHAR(10),
    v VARCHAR(200),
    t TEXT
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci;
INSERT INTO texts_latin1 VALUES
 (1, 'café', 'Ångström façade naïve señor Œuvre', 'déjà vu, crème brûlée, Straße'),
 (2, '€', 'euro € and ÿ and þ', _latin1 x'808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9F'),
 (3, 'hi', _latin1 x'A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDFE0E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF', 'tab\tnl\ncr\rbs\\'),
 (4, '', '', '\\N'),
 (5, NULL, NULL, NULL);

-- Shift-JIS: 0x5C (backslash) is the second byte of common characters (ソ 0x835C, 表 0x955C,
-- 能 0x945C). An escaper that works on characters rather than bytes, or a load that converts
-- charsets, breaks these.
CREATE TABLE texts_sjis (
    id INT NOT NULL PRIMARY KEY,
    v VARCHAR(50)
) ENGINE=InnoDB DEFAULT CHARSET=sjis;
INSERT INTO texts_sjis VALUES
 (1, _sjis x'835C955C945C'),
 (2, _sjis x'835C5C'),
 (3, 'ascii \\ only'),
 (4, NULL);

-- Binary types holding every byte value: one row with all 256 bytes (255 for TINYBLOB), rows of
-- a single special byte, the bytes of \N and of NULL, empty and NULL.
CREATE TABLE binaries (
    id INT NOT NULL PRIMARY KEY,
    b16 BINARY(16),
    vb VARBINARY(300),
    tb TINYBLOB,
    bl BLOB,
    mb MEDIUMBLOB,
    lb LONGBLOB
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
SET @all_bytes = x'000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9FA0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDFE0E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF';
INSERT INTO binaries VALUES
 (1, LEFT(@all_bytes, 16), @all_bytes, LEFT(@all_bytes, 255), @all_bytes, @all_bytes, @all_bytes),
 (2, RIGHT(@all_bytes, 16), REVERSE(@all_bytes), RIGHT(@all_bytes, 255), REVERSE(@all_bytes),
     REPEAT(@all_bytes, 1000), REPEAT(REVERSE(@all_bytes), 3)),
 (3, x'00', x'00', x'00', x'00', x'0000', x'000000'),
 (4, x'09', x'09', x'09', x'09', x'0909', x'090909'),
 (5, x'0A', x'0A', x'0A', x'0A', x'0A0A', x'0A0A0A'),
 (6, x'0D', x'0D', x'0D', x'0D', x'0D0A', x'0D0D0D'),
 (7, x'1A', x'1A', x'1A', x'1A', x'1A1A', x'1A1A1A'),
 (8, x'5C', x'5C', x'5C', x'5C', x'5C5C', x'5C5C5C'),
 (9, '\\N', '\\N', '\\N', '\\N', '\\N', '\\N'),
 (10, 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL'),
 (11, '', '', '', '', '', ''),
 (12, NULL, NULL, NULL, NULL, NULL, NULL),
 (13, x'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF', x'FF00FF', x'80', x'C3', x'F09F98', x'EFBBBF');

-- ENUM and SET, including labels with a quote, a space and non-ASCII; the empty SET.
CREATE TABLE enums_sets (
    id INT NOT NULL PRIMARY KEY,
    e ENUM('small', 'it''s medium', 'large one', 'ünï'),
    s SET('read', 'write', 'exec', 'ünï', 'with space'),
    e_default ENUM('x', 'y') NOT NULL DEFAULT 'y'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO enums_sets VALUES
 (1, 'small', 'read', 'x'),
 (2, 'it''s medium', 'read,write,exec', 'y'),
 (3, 'large one', '', 'x'),
 (4, 'ünï', 'ünï,with space', 'y'),
 (5, NULL, NULL, 'x');
INSERT INTO enums_sets (id) VALUES (6);

-- JSON (in MariaDB a LONGTEXT with a json_valid CHECK): unicode, escaped quotes and backslashes,
-- whitespace the server keeps verbatim, scalars.
CREATE TABLE docs (
    id INT NOT NULL PRIMARY KEY,
    j JSON
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO docs VALUES
 (1, '{"a": {"b": [1, 2.50, {"c": null}]}, "u": "ünï 😀 \\u00e9\\ud83d\\ude00", "q": "say \\"hi\\"", "bs": "back\\\\slash"}'),
 (2, '[]'),
 (3, '"just a string with a tab\\t and newline\\n"'),
 (4, 'null'),
 (5, '  { "spaces" :   true , "dup": 1, "dup": 2 }  '),
 (6, '123.4500'),
 (7, NULL),
 (8, '{"nested": [[[[[]]]]], "n": -1.5e300, "t": true, "f": false, "s": "\\\\N"}');

-- Spatial types: POINT, POLYGON (with a hole), GEOMETRY holding several kinds, and a GEOMETRY
-- column with an SRID (MariaDB's REF_SYSTEM_ID attribute). Stored as 4-byte SRID + WKB.
CREATE TABLE shapes (
    id INT NOT NULL PRIMARY KEY,
    p POINT,
    pg POLYGON,
    g GEOMETRY,
    g4326 GEOMETRY REF_SYSTEM_ID=4326
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO shapes VALUES
 (1, ST_GeomFromText('POINT(1 2)'),
     ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0),(2 2,2 3,3 3,3 2,2 2))'),
     ST_GeomFromText('LINESTRING(0 0,1 1,2 0)'),
     ST_GeomFromText('POINT(13.4 52.5)', 4326)),
 (2, ST_GeomFromText('POINT(-1.5e300 1e-300)'),
     ST_GeomFromText('POLYGON((0.1 0.2,0.3 0.4,0.5 0.1,0.1 0.2))'),
     ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,9 9))'),
     ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))', 4326)),
 (3, ST_GeomFromText('POINT(0 0)'),
     ST_GeomFromText('POLYGON((9 9,10 9,10 10,9 9))'),
     ST_GeomFromText('MULTIPOINT(0 0,9 10,92 11)'),
     ST_GeomFromText('MULTILINESTRING((0 0,1 1),(2 2,3 3))', 4326)),
 (4, ST_GeomFromText('POINT(2.5 92)'), NULL, ST_GeomFromText('POINT(9 10)', 3857), NULL),
 (5, NULL, NULL, NULL, NULL);

-- Generated columns (STORED and VIRTUAL, one indexed) and an INVISIBLE column: the generated
-- ones are left out of the dump and recomputed; the invisible one must be dumped (SELECT *
-- skips it).
CREATE TABLE computed (
    id INT NOT NULL PRIMARY KEY,
    price DECIMAL(10,2) NOT NULL,
    qty INT NOT NULL,
    total DECIMAL(12,2) AS (price * qty) STORED,
    label VARCHAR(40) AS (CONCAT('#', id, ' x', qty)) VIRTUAL,
    hidden VARCHAR(20) INVISIBLE DEFAULT 'default hidden',
    note TEXT,
    KEY idx_label (label)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO computed (id, price, qty, note) VALUES (1, 9.99, 3, 'a'), (2, 0.50, 0, NULL);
INSERT INTO computed (id, price, qty, hidden, note) VALUES
 (3, 100, -2, 'set explicitly', 'tab\there'),
 (4, 1.25, 4, NULL, ''),
 (5, 0, 0, '\\N', '\\N');

-- AUTO_INCREMENT with a gap after the last row (the next id is 11, not 4), a table COMMENT and
-- column COMMENTs with quotes and unicode, DEFAULTs and a CHECK constraint.
CREATE TABLE with_auto_increment (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    note VARCHAR(50) NOT NULL DEFAULT 'it''s "quoted" – ünï' COMMENT 'column ''comment'' – ünï',
    qty INT NOT NULL DEFAULT 1 CHECK (qty >= 0),
    created DATETIME NOT NULL DEFAULT '2000-01-01 00:00:00'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='table ''comment'' – ünï';
INSERT INTO with_auto_increment (note) VALUES ('one'), ('two'), ('three');
INSERT INTO with_auto_increment (id, note, qty) VALUES (10, 'ten', 0);
DELETE FROM with_auto_increment WHERE id = 10;

-- A table with no rows.
CREATE TABLE no_rows (
    id INT NOT NULL PRIMARY KEY,
    t TEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A table without a primary key (or any unique key), holding duplicate rows: a restore that uses
-- REPLACE or upserts must still load every copy.
CREATE TABLE no_pk (
    a INT,
    b VARCHAR(20),
    c DOUBLE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO no_pk VALUES
 (1, 'dup', 0.5), (1, 'dup', 0.5), (1, 'dup', 0.5), (2, NULL, NULL), (2, NULL, NULL),
 (NULL, NULL, NULL), (3, '', 0), (3, 'tab\t', -1);

-- A MyISAM table: not transactional, so consistency comes from FTWRL alone; CHECKSUM=1 keeps a
-- live checksum.
CREATE TABLE legacy_myisam (
    id INT NOT NULL PRIMARY KEY,
    v VARCHAR(30),
    n DOUBLE
) ENGINE=MyISAM DEFAULT CHARSET=utf8mb4 CHECKSUM=1;
INSERT INTO legacy_myisam VALUES (1, 'one', 1.5), (2, 'two\ttab', NULL), (3, NULL, -2.25);

-- 6000 rows of about 120 bytes of TSV each (about 700 KiB): more than ten chunks at
-- --chunk-size 64KiB. Built from MariaDB's Sequence engine.
CREATE TABLE many_rows (
    id INT NOT NULL PRIMARY KEY,
    k VARCHAR(40) NOT NULL,
    body VARCHAR(200),
    raw VARBINARY(16),
    amount DECIMAL(12,2),
    at DATETIME(6),
    KEY idx_k (k)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO many_rows
SELECT seq,
       MD5(seq),
       CASE seq % 7 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN CONCAT('tab\t', seq, '\nnl')
            ELSE REPEAT(CONCAT('row ', seq, ' ü '), 1 + seq % 5) END,
       CASE WHEN seq % 5 = 0 THEN NULL ELSE UNHEX(MD5(seq)) END,
       seq * 1.37,
       '2024-01-01 00:00:00.000000' + INTERVAL seq MINUTE + INTERVAL seq MICROSECOND
  FROM seq_1_to_6000;

-- Names that need backquotes: a space, a backquote, non-ASCII letters, reserved words.
CREATE TABLE `odd name`` täble` (
    `select` INT NOT NULL PRIMARY KEY,
    `col with space` VARCHAR(20),
    `back``tick` VARCHAR(20),
    `ünïcödé 列` VARCHAR(20),
    `order` INT,
    `key` VARCHAR(10),
    KEY `idx ``odd`` name` (`order`, `key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO `odd name`` täble` VALUES
 (1, 'a b', 'x`y', 'ünï', 10, 'k1'),
 (2, NULL, '``', '列', NULL, NULL),
 (3, '', '', '', 0, '');
