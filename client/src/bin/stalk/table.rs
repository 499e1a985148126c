//! A plain-text table with aligned columns, for human output.

/// Rows under a header line; every column as wide as its widest cell, two spaces between.
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first row is `headers`.
    pub(crate) fn new(headers: &[&str]) -> Self {
        Self {
            rows: vec![headers.iter().map(|&h| h.to_owned()).collect()],
        }
    }

    /// Appends a row; missing cells render empty.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The rendered table, one line per row, each ending in a newline.
    pub(crate) fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|col| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(col))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (col, width) in widths.iter().enumerate() {
                let cell = row.get(col).map_or("", String::as_str);
                line.push_str(cell);
                let pad = width.saturating_sub(cell.chars().count()) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_to_their_widest_cell() {
        let mut table = Table::new(&["QUEUE", "READY"]);
        table.row(vec!["default".into(), "3".into()]);
        table.row(vec!["mail".into(), "12".into()]);
        assert_eq!(
            table.render(),
            "QUEUE    READY\n\
             default  3\n\
             mail     12\n"
        );
    }

    #[test]
    fn short_rows_and_wide_characters_keep_alignment() {
        let mut table = Table::new(&["A", "B", "C"]);
        table.row(vec!["é".into()]);
        table.row(vec!["xx".into(), "y".into(), "z".into()]);
        assert_eq!(table.render(), "A   B  C\né\nxx  y  z\n");
    }
}
