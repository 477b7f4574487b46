//! `ksym`: a kernel address (8 bytes) → the name of the kernel function or
//! object it lies in, from `/proc/kallsyms`. The table is read on first use
//! (it is several MB, most programs never need it) and read again when an
//! address is not found (a module loaded since).

use std::sync::Mutex;

/// The kernel's symbols, sorted by address.
pub struct KernelSymbols {
    source: Option<std::path::PathBuf>,
    table: Mutex<Option<Vec<(u64, String)>>>,
}

impl KernelSymbols {
    /// Reads `/proc/kallsyms` when first needed (root sees real addresses).
    pub fn from_proc() -> Self {
        KernelSymbols {
            source: Some("/proc/kallsyms".into()),
            table: Mutex::new(None),
        }
    }

    /// A fixed table in kallsyms' format (`address type name [module]`).
    pub fn parse(text: &str) -> Self {
        KernelSymbols {
            source: None,
            table: Mutex::new(Some(parse(text))),
        }
    }

    fn with_table<T>(&self, refresh: bool, read: impl FnOnce(&[(u64, String)]) -> T) -> T {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if table.is_none() || refresh {
            if let Some(path) = &self.source {
                *table = Some(parse(&std::fs::read_to_string(path).unwrap_or_default()));
            }
        }
        read(table.as_deref().unwrap_or(&[]))
    }

    /// The symbol `address` lies in, or `unknown_addr:0x<address>`.
    pub fn name(&self, address: u64) -> String {
        let find = |table: &[(u64, String)]| {
            let at = table.partition_point(|(start, _)| *start <= address);
            // Addresses far past the last symbol belong to nothing we know.
            (at > 0 && at < table.len()).then(|| table[at - 1].1.clone())
        };
        self.with_table(false, find)
            .or_else(|| {
                if self.source.is_some() {
                    self.with_table(true, find)
                } else {
                    None
                }
            })
            .unwrap_or_else(|| format!("unknown_addr:0x{address:x}"))
    }

    /// The address of the symbol `name` (for `kaddrs`), if the kernel has it.
    pub fn address(&self, name: &str) -> Option<u64> {
        self.with_table(false, |table| {
            table
                .iter()
                .find(|(_, symbol)| symbol == name)
                .map(|(address, _)| *address)
        })
    }
}

fn parse(text: &str) -> Vec<(u64, String)> {
    let mut table: Vec<(u64, String)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let address = u64::from_str_radix(fields.next()?, 16).ok()?;
            let _kind = fields.next()?;
            let name = fields.next()?;
            (address != 0).then(|| (address, name.to_string()))
        })
        .collect();
    table.sort();
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff81001000 T tcp_v4_connect
ffffffff81001400 t tcp_v4_init_sock
ffffffff81002000 T _etext
0000000000000000 A fixed_percpu_data
";

    #[test]
    fn addresses_are_named_by_the_symbol_they_lie_in() {
        let symbols = KernelSymbols::parse(KALLSYMS);
        let cases = [
            (0xffffffff81001000, "tcp_v4_connect"),
            (0xffffffff81001010, "tcp_v4_connect"),
            (0xffffffff81001400, "tcp_v4_init_sock"),
            (0xffffffff80000000, "unknown_addr:0xffffffff80000000"),
            (0xffffffff81002010, "unknown_addr:0xffffffff81002010"),
        ];
        for (address, name) in cases {
            assert_eq!(symbols.name(address), name, "{address:x}");
        }
        assert_eq!(symbols.address("tcp_v4_connect"), Some(0xffffffff81001000));
        assert_eq!(symbols.address("fixed_percpu_data"), None);
    }
}
