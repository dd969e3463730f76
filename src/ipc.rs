//! Arrow IPC blobs: how record batches are kept as bytes, in operator state
//! (`crate::state`) and in a sink writer's state (`crate::connector::sink`).

use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};

/// Encodes a batch as an Arrow IPC stream (operator state blobs).
pub fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>> {
    encode_batches(std::slice::from_ref(batch))
}

/// Encodes batches of one schema as one Arrow IPC stream.
pub fn encode_batches(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if let Some(first) = batches.first() {
        let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut buf, &first.schema())?;
        for batch in batches {
            writer.write(batch)?;
        }
        writer.finish()?;
    }
    Ok(buf)
}

/// Decodes a batch written by [`encode_batch`].
pub fn decode_batch(bytes: &[u8]) -> Result<RecordBatch> {
    decode_batches(bytes)?.into_iter().next().ok_or_else(|| Error::Internal("empty state blob".into()))
}

/// Decodes every batch of an IPC stream written by [`encode_batches`].
pub fn decode_batches(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}
