//! The client side of an in-memory SMTP connection for the smtpd fuzz targets: reads come
//! from the fuzzer's input, replies are collected in `output`. Every byte of input is there
//! at once, so for pipelining detection (`Peek`) input is waiting until all of it was read.

use std::io::{self, Cursor, Read, Write};

pub struct Mem<'a> {
    pub input: Cursor<&'a [u8]>,
    pub output: Vec<u8>,
}

impl<'a> Mem<'a> {
    pub fn new(input: &'a [u8]) -> Mem<'a> {
        Mem {
            input: Cursor::new(input),
            output: Vec::new(),
        }
    }
}

impl Read for Mem<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Mem<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl postern::smtpd::chat::Peek for Mem<'_> {
    fn input_waiting(&self) -> bool {
        (self.input.position() as usize) < self.input.get_ref().len()
    }
}
