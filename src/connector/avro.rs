//! Avro message values in the Confluent wire format, with writer schemas from a schema
//! registry (`format = 'avro', schema_registry = 'http://...'`).
//!
//! Used by the Kafka source (`connector::kafka`) in place of the line decoder. Each value
//! is the magic byte 0, a 4-byte big-endian schema id, and the Avro body. The writer schema
//! of each id is fetched once from `GET {registry}/schemas/ids/{id}`; arrow-avro decodes the
//! bodies into Arrow, and the stream's columns are taken from the writer's fields by name
//! (and cast), so writers may add or drop fields. A value that is not in this format, whose
//! schema the registry does not have, or that does not decode is a bad record, never an
//! error.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::compute::{CastOptions, cast_with_options, concat_batches};
use arrow::datatypes::{DataType, SchemaRef};
use arrow_avro::reader::{Decoder, ReaderBuilder};
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};

use super::format::{BadLine, Decoded};
use crate::error::{Error, Result, lowercase_first};

/// How long one request to the schema registry may take.
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(5);
/// After failing to reach the registry, how long unknown schema ids are not fetched.
const REGISTRY_RETRY: Duration = Duration::from_secs(10);
/// Bytes before the body: magic byte and schema id.
const HEADER: usize = 5;

/// Consecutive values of one writer schema, with their positions.
type Run<'a> = Vec<(usize, &'a [u8])>;

/// Decodes Confluent-framed Avro values into batches of a fixed schema.
pub struct AvroDecoder {
    registry: Registry,
    schema: SchemaRef,
    /// Writer schemas fetched so far (`None`: the registry does not have the id).
    schemas: HashMap<u32, Option<AvroSchema>>,
    /// The last failure to reach the registry: until then, unknown ids are not fetched.
    registry_down: Option<(Instant, String)>,
    decoder: Option<Decoder>,
}

impl AvroDecoder {
    /// A decoder to `schema` with writer schemas from the registry at `url`.
    pub fn new(url: &str, schema: SchemaRef) -> AvroDecoder {
        AvroDecoder {
            registry: Registry::new(url),
            schema,
            schemas: HashMap::new(),
            registry_down: None,
            decoder: None,
        }
    }

    /// A decoder that knows writer schema `id` (the JSON text `writer`) without asking a
    /// registry; other ids are looked up at an address nothing listens on, so they are bad
    /// records. For tests and fuzzing.
    pub fn with_writer_schema(schema: SchemaRef, id: u32, writer: &str) -> Result<AvroDecoder> {
        serde_json::from_str::<serde_json::Value>(writer)
            .map_err(|e| Error::InvalidParameter(format!("invalid avro schema: {e}")))?;
        let mut decoder = AvroDecoder::new("http://127.0.0.1:9", schema);
        decoder.schemas.insert(id, Some(AvroSchema::new(writer.to_string())));
        Ok(decoder)
    }

    /// Decodes `values`; bad ones are reported by 1-based position.
    pub fn decode(&mut self, values: &[&[u8]]) -> Result<Decoded> {
        let mut bad = Vec::new();
        let mut runs: Vec<(u32, Run<'_>)> = Vec::new();
        for (i, value) in values.iter().enumerate() {
            match self.schema_id(value) {
                Ok(id) => match runs.last_mut() {
                    Some((last, run)) if *last == id => run.push((i, value)),
                    _ => runs.push((id, vec![(i, value)])),
                },
                Err(reason) => bad.push(BadLine { line: i as u64 + 1, reason }),
            }
        }
        let mut batches = Vec::new();
        for (_, run) in runs {
            batches.extend(self.decode_run(&run, &mut bad)?);
        }
        bad.sort_by_key(|b| b.line);
        let batch = match batches.is_empty() {
            true => None,
            false => Some(concat_batches(&self.schema, &batches)?),
        };
        Ok(Decoded { batch, bad })
    }

    /// The schema id of a value whose writer schema is known (fetching it if needed).
    fn schema_id(&mut self, value: &[u8]) -> std::result::Result<u32, String> {
        let Some((&0, id)) = value.split_first().filter(|_| value.len() >= HEADER) else {
            return Err("value is not in the confluent avro wire format (magic byte 0, schema id)".into());
        };
        let id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
        if !self.schemas.contains_key(&id) {
            if let Some((until, why)) = &self.registry_down
                && Instant::now() < *until
            {
                return Err(why.clone());
            }
            match self.registry.schema(id) {
                Ok(fetched) => {
                    self.schemas.insert(id, fetched);
                    self.decoder = None;
                }
                Err(why) => {
                    self.registry_down = Some((Instant::now() + REGISTRY_RETRY, why.clone()));
                    return Err(why);
                }
            }
        }
        match self.schemas.get(&id) {
            Some(Some(_)) => Ok(id),
            _ => Err(format!("schema {id} is not in the schema registry")),
        }
    }

    /// Decodes consecutive values of one writer schema; if any is bad, one by one.
    fn decode_run(&mut self, run: &[(usize, &[u8])], bad: &mut Vec<BadLine>) -> Result<Vec<RecordBatch>> {
        if let Ok(Some(batch)) = self.decode_values(run.iter().map(|(_, v)| *v)) {
            return Ok(vec![self.conform(&batch)?]);
        }
        let mut batches = Vec::new();
        for (i, value) in run {
            match self.decode_values(std::iter::once(*value)) {
                Ok(Some(batch)) => batches.push(self.conform(&batch)?),
                Ok(None) => bad.push(BadLine { line: *i as u64 + 1, reason: "avro value has no row".into() }),
                Err(reason) => bad.push(BadLine { line: *i as u64 + 1, reason }),
            }
        }
        Ok(batches)
    }

    /// Decodes whole values into one batch of their writer schema; on error the decoder is
    /// dropped (it may hold part of a row).
    fn decode_values<'a>(
        &mut self,
        values: impl Iterator<Item = &'a [u8]>,
    ) -> std::result::Result<Option<RecordBatch>, String> {
        let result = self.try_decode(values);
        if result.is_err() {
            self.decoder = None;
        }
        result
    }

    fn try_decode<'a>(
        &mut self,
        values: impl Iterator<Item = &'a [u8]>,
    ) -> std::result::Result<Option<RecordBatch>, String> {
        let decoder = self.decoder()?;
        for value in values {
            let used = decoder.decode(value).map_err(|e| lowercase_first(&e.to_string()))?;
            if used != value.len() {
                return Err(format!("avro value has {} bytes after its row, or ends early", value.len() - used));
            }
        }
        decoder.flush().map_err(|e| lowercase_first(&e.to_string()))
    }

    fn decoder(&mut self) -> std::result::Result<&mut Decoder, String> {
        if self.decoder.is_none() {
            let mut store = SchemaStore::new_with_type(FingerprintAlgorithm::Id);
            for (id, schema) in &self.schemas {
                if let Some(schema) = schema {
                    store.set(Fingerprint::Id(*id), schema.clone()).map_err(|e| e.to_string())?;
                }
            }
            let decoder = ReaderBuilder::new()
                .with_batch_size(1 << 20)
                .with_writer_schema_store(store)
                .build_decoder()
                .map_err(|e| format!("cannot use the writer schema: {}", lowercase_first(&e.to_string())))?;
            self.decoder = Some(decoder);
        }
        self.decoder.as_mut().ok_or_else(|| "no avro decoder".to_string())
    }

    /// The stream's columns from a batch of a writer schema: fields by name, cast to the
    /// column types (values that do not convert become null); missing fields are null.
    fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let options = CastOptions { safe: true, ..Default::default() };
        let columns = (self.schema.fields().iter())
            .map(|field| match batch.schema().index_of(field.name()) {
                Ok(i) => cast_column(batch.column(i), field.data_type(), &options),
                Err(_) => Ok(new_null_array(field.data_type(), batch.num_rows())),
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)?)
    }
}

fn cast_column(column: &ArrayRef, to: &DataType, options: &CastOptions<'_>) -> Result<ArrayRef> {
    if column.data_type() == to {
        return Ok(column.clone());
    }
    // Avro timestamps are UTC instants; a TIMESTAMP column keeps the same instant.
    let column = match (column.data_type(), to) {
        (DataType::Timestamp(unit, Some(_)), DataType::Timestamp(_, None)) => {
            cast_with_options(column, &DataType::Timestamp(*unit, None), options)?
        }
        _ => column.clone(),
    };
    Ok(cast_with_options(&column, to, options)?)
}

/// A Confluent schema registry client.
struct Registry {
    url: String,
    agent: ureq::Agent,
}

impl Registry {
    fn new(url: &str) -> Registry {
        let config =
            ureq::Agent::config_builder().timeout_global(Some(REGISTRY_TIMEOUT)).http_status_as_error(false).build();
        Registry { url: url.trim_end_matches('/').to_string(), agent: ureq::Agent::new_with_config(config) }
    }

    /// The writer schema with `id`; `None` if the registry says it has none.
    fn schema(&self, id: u32) -> std::result::Result<Option<AvroSchema>, String> {
        let url = format!("{}/schemas/ids/{id}", self.url);
        let unreachable = |e: &dyn std::fmt::Display| format!("cannot fetch schema {id} from \"{}\": {e}", self.url);
        let mut response = self.agent.get(&url).call().map_err(|e| unreachable(&e))?;
        if response.status() == 404 {
            return Ok(None);
        }
        let body = response.body_mut().read_to_string().map_err(|e| unreachable(&e))?;
        if !response.status().is_success() {
            return Err(unreachable(&format!("status {}: {body}", response.status())));
        }
        let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| unreachable(&e))?;
        match (json["schemaType"].as_str(), json["schema"].as_str()) {
            (None | Some("AVRO"), Some(schema)) => Ok(Some(AvroSchema::new(schema.to_string()))),
            (Some(other), _) => Err(format!("schema {id} is a {other} schema, not avro")),
            _ => Err(unreachable(&"the answer has no \"schema\"")),
        }
    }

    /// Checks that the registry answers (at CREATE).
    fn check(&self) -> Result<()> {
        let url = format!("{}/subjects", self.url);
        match self.agent.get(&url).call() {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(Error::Unreachable(format!("schema registry \"{}\" answered {}", self.url, r.status()))),
            Err(e) => Err(Error::Unreachable(format!("cannot reach schema registry \"{}\": {e}", self.url))),
        }
    }
}

/// Checks at CREATE that the registry at `url` answers. Blocks for up to a few seconds.
pub fn check_registry(url: &str) -> Result<()> {
    Registry::new(url).check()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::{Field, Int64Type, Schema};
    use arrow_avro::schema::FingerprintStrategy;
    use arrow_avro::writer::WriterBuilder;
    use arrow_avro::writer::format::AvroSoeFormat;

    /// Confluent-framed values of `batch` with schema id `id`, and the writer schema.
    fn encode(batch: &RecordBatch, id: u32) -> (Vec<Vec<u8>>, AvroSchema) {
        let schema = batch.schema().as_ref().clone();
        let avro = AvroSchema::try_from(&schema).unwrap();
        let mut encoder = WriterBuilder::new(schema)
            .with_fingerprint_strategy(FingerprintStrategy::Id(id))
            .build_encoder::<AvroSoeFormat>()
            .unwrap();
        encoder.encode(batch).unwrap();
        let rows = encoder.flush();
        (rows.iter().map(|r| r.to_vec()).collect(), avro)
    }

    #[test]
    fn values_decode_by_field_name_across_writer_schemas_and_bad_ones_are_isolated() {
        let v1 = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("name", DataType::Utf8, false),
            ])),
            vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(StringArray::from(vec!["a", "b"]))],
        )
        .unwrap();
        let v2 = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("name", DataType::Utf8, false),
                Field::new("id", DataType::Int64, false),
            ])),
            vec![Arc::new(StringArray::from(vec!["c"])), Arc::new(Int64Array::from(vec![3]))],
        )
        .unwrap();
        let (rows1, schema1) = encode(&v1, 1);
        let (rows2, schema2) = encode(&v2, 2);
        let target = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("extra", DataType::Utf8, true),
        ]));
        let mut decoder = AvroDecoder::new("http://127.0.0.1:9", target);
        decoder.schemas.insert(1, Some(schema1));
        decoder.schemas.insert(2, Some(schema2));
        let truncated = rows1[1][..rows1[1].len() - 1].to_vec();
        let values: Vec<&[u8]> =
            vec![&rows1[0], b"{\"id\": 9}", &truncated, &rows2[0], &rows1[1], &[0, 0, 0, 0, 1, 0xff, 0xff]];
        let decoded = decoder.decode(&values).unwrap();
        let batch = decoded.batch.unwrap();
        let ids: Vec<i64> = batch.column(0).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(ids, vec![1, 3, 2]);
        assert_eq!(batch.column(1).null_count(), 3);
        let lines: Vec<u64> = decoded.bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![2, 3, 6], "{:?}", decoded.bad);
        assert!(decoded.bad[0].reason.contains("wire format"));
    }
}
