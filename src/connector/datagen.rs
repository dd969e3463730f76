//! placeholder
use super::{Options, Poll, SourceReader, SourceStatus};
use crate::error::Result;
use arrow::datatypes::SchemaRef;
pub fn check_options(_o: &Options, _s: &SchemaRef) -> Result<()> {
    todo!()
}
pub struct DatagenSource;
impl DatagenSource {
    pub fn open(_o: &Options, _s: SchemaRef, _saved: Option<Vec<u8>>, _b: bool) -> Result<DatagenSource> {
        todo!()
    }
}
impl SourceReader for DatagenSource {
    fn poll(&mut self, _m: usize) -> Result<Poll> {
        todo!()
    }
    fn checkpoint(&self) -> Result<Vec<u8>> {
        todo!()
    }
    fn status(&self) -> SourceStatus {
        todo!()
    }
}
