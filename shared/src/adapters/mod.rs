//! Adapters: the ports implemented on DynamoDB, stdout (EMF) and the system clock, plus in-memory
//! doubles (only under `cfg(test)` or the `doubles` feature). The only place that imports an AWS SDK; item ↔ domain mapping lives here.

pub mod aws_reads;
pub mod cloudwatch;
pub mod dynamo_api;
pub mod dynamodb;
pub mod folder;
pub mod kms;
#[cfg(any(test, feature = "doubles"))]
pub mod memory;
pub mod s3;
pub mod system;
