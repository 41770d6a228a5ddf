//! Rows set aside on local disk under memory pressure, so that a partition's rows still become
//! one row group.
//!
//! Encoding a partition's buffered rows whenever the memory budget was reached split the
//! heaviest partitions' files into several row groups (a budget-sized group, then another, or
//! a small tail of late events), and a query pays for every row group it reads. With a spill
//! budget, the buffers chosen under pressure are written out as Arrow IPC streams instead (a
//! copy of their buffers, no encoding), and read back a slice at a time when the partition's
//! row group is encoded. The round trip costs about 10% of ingest time on a 1 GB corpus and
//! 23% on 4 GB, so it is off by default.
//!
//! The files live in the writer's spool folder and are deleted once read: they are written to
//! the page cache and usually gone before the kernel writes them back.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;

use crate::LakeError;

/// One partition's spilled rows: IPC stream files, in the order they were written.
#[derive(Default)]
pub(crate) struct Spill {
    files: VecDeque<PathBuf>,
    bytes: u64,
}

impl Spill {
    /// Bytes of the spill files: about the memory the rows take again when read back (exact
    /// buffers, where the buffered batches held their builders' spare capacity too).
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Writes `batches` to a new file in `dir`.
    pub(crate) fn write(&mut self, dir: &Path, batches: &[RecordBatch]) -> Result<(), LakeError> {
        let Some(first) = batches.first() else {
            return Ok(());
        };
        let path = dir.join(format!("{}.spill", uuid::Uuid::now_v7().simple()));
        let file = File::create(&path).map_err(|e| LakeError::io(&path, e))?;
        // listed before it is written, so that a half-written file is removed with the rest
        self.files.push_back(path.clone());
        let err = |e| LakeError::spill(&path, e);
        let mut w = StreamWriter::try_new(BufWriter::with_capacity(1 << 20, file), &first.schema())
            .map_err(err)?;
        for b in batches {
            w.write(b).map_err(err)?;
        }
        w.finish().map_err(err)?;
        let mut file = w.into_inner().map_err(err)?;
        file.flush().map_err(|e| LakeError::io(&path, e))?;
        let size = file
            .get_ref()
            .metadata()
            .map_err(|e| LakeError::io(&path, e))?
            .len();
        self.bytes += size;
        Ok(())
    }

    /// The spilled rows in the order written, in slices of about `slice_bytes` of memory.
    /// Each file is deleted once read; what is left unread is deleted when the reader drops.
    pub(crate) fn read(mut self, slice_bytes: usize) -> SpillReader {
        SpillReader {
            files: std::mem::take(&mut self.files),
            current: None,
            slice_bytes,
        }
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Reads a [`Spill`] back; see [`Spill::read`].
pub(crate) struct SpillReader {
    files: VecDeque<PathBuf>,
    current: Option<(PathBuf, StreamReader<BufReader<File>>)>,
    slice_bytes: usize,
}

impl SpillReader {
    fn next_slice(&mut self) -> Result<Vec<RecordBatch>, LakeError> {
        let (mut slice, mut size) = (Vec::new(), 0);
        while size < self.slice_bytes {
            let Some((path, reader)) = &mut self.current else {
                let Some(path) = self.files.pop_front() else {
                    break;
                };
                let opened = File::open(&path)
                    .map_err(|e| LakeError::io(&path, e))
                    .and_then(|f| {
                        StreamReader::try_new_buffered(f, None)
                            .map_err(|e| LakeError::spill(&path, e))
                    });
                match opened {
                    Ok(reader) => self.current = Some((path, reader)),
                    Err(e) => {
                        let _ = std::fs::remove_file(&path);
                        return Err(e);
                    }
                }
                continue;
            };
            match reader.next() {
                Some(batch) => {
                    let batch = batch.map_err(|e| LakeError::spill(path, e))?;
                    // the batch's arrays share one buffer per IPC message, so count the
                    // slices each array uses, not the capacity behind them
                    for c in batch.columns() {
                        size += c
                            .to_data()
                            .get_slice_memory_size()
                            .map_err(|e| LakeError::spill(path, e))?;
                    }
                    slice.push(batch);
                }
                None => {
                    let _ = std::fs::remove_file(path);
                    self.current = None;
                }
            }
        }
        Ok(slice)
    }
}

impl Iterator for SpillReader {
    type Item = Result<Vec<RecordBatch>, LakeError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_slice() {
            Ok(slice) if slice.is_empty() => None,
            r => Some(r),
        }
    }
}

impl Drop for SpillReader {
    fn drop(&mut self) {
        let current = self.current.take().map(|(p, _)| p);
        for f in current.iter().chain(&self.files) {
            let _ = std::fs::remove_file(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::tests::{batch, tempdir};

    fn files(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn reads_back_what_was_written_in_order_and_in_slices() {
        let dir = tempdir();
        let mut spill = Spill::default();
        let written: Vec<RecordBatch> = (1..=6).map(|d| batch(50, d, 200).1).collect();
        spill.write(&dir, &written[..4]).unwrap();
        spill.write(&dir, &written[4..]).unwrap();
        spill.write(&dir, &[]).unwrap();
        assert_eq!(files(&dir), 2);
        assert!(spill.bytes() > 0);
        let mut slices = 0;
        let mut read = Vec::new();
        // slices of about two batches
        let one = written[0]
            .columns()
            .iter()
            .map(|c| c.to_data().get_slice_memory_size().unwrap())
            .sum::<usize>();
        for slice in spill.read(one * 2 - 1) {
            let slice = slice.unwrap();
            assert!(slice.len() <= 2);
            slices += 1;
            read.extend(slice);
        }
        assert_eq!(read, written);
        assert_eq!(slices, 3);
        assert_eq!(files(&dir), 0, "read files are deleted");
    }

    #[test]
    fn unread_files_are_deleted_on_drop() {
        let dir = tempdir();
        let mut spill = Spill::default();
        spill.write(&dir, &[batch(5, 1, 10).1]).unwrap();
        spill.write(&dir, &[batch(5, 2, 10).1]).unwrap();
        drop(spill);
        assert_eq!(files(&dir), 0);
        let mut spill = Spill::default();
        spill.write(&dir, &[batch(5, 1, 10).1]).unwrap();
        spill.write(&dir, &[batch(5, 2, 10).1]).unwrap();
        let mut reader = spill.read(1);
        assert!(reader.next().unwrap().is_ok());
        drop(reader);
        assert_eq!(files(&dir), 0);
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempdir();
        let mut spill = Spill::default();
        spill.write(&dir, &[batch(5, 1, 10).1]).unwrap();
        let path = spill.files[0].clone();
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len / 2).unwrap();
        let err = spill.read(1 << 20).find_map(Result::err).unwrap();
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(files(&dir), 0);
    }
}
