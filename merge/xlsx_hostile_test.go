package merge

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// replacePart rewrites the workbook at path with its part name written by
// write instead, into the zip.Writer given.
func replacePart(t testing.TB, path, name string, write func(zw *zip.Writer)) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		if f.Name == name {
			write(zw)
			continue
		}
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	zr.Close()
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// streamedPart writes a part deflated by archive/zip from what gen writes.
func streamedPart(t testing.TB, name string, gen func(w io.Writer)) func(*zip.Writer) {
	return func(zw *zip.Writer) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		gen(w)
	}
}

// repeat writes n bytes c to w.
func repeat(w io.Writer, c byte, n int64) {
	chunk := bytes.Repeat([]byte{c}, 1<<20)
	for n > 0 {
		k := min(n, int64(len(chunk)))
		w.Write(chunk[:k])
		n -= k
	}
}

// paddedPart writes a part that is prefix, n spaces and suffix, deflated
// by hand with fixed Huffman codes (RFC 1951, 3.2.6): a run of spaces is
// one literal and then matches of length 258 at distance 1, 13 bits for
// every 258 bytes, so that gigabytes of padding take megabytes to build.
// declared is the size the entry declares; 0 means the true size.
func paddedPart(t testing.TB, name, prefix string, n int64, suffix string, declared uint64) func(*zip.Writer) {
	return func(zw *zip.Writer) {
		var bw bitWriter
		bw.bits(1, 1) // BFINAL
		bw.bits(1, 2) // BTYPE 01: fixed Huffman codes
		for _, c := range []byte(prefix) {
			bw.literal(c)
		}
		if n > 0 {
			bw.literal(' ')
			rest := n - 1
			for ; rest >= 258; rest -= 258 {
				bw.code(0xc5, 8) // length code 285: 258 bytes
				bw.code(0, 5)    // distance code 0: distance 1
			}
			for ; rest > 0; rest-- {
				bw.literal(' ')
			}
		}
		for _, c := range []byte(suffix) {
			bw.literal(c)
		}
		bw.code(0, 7) // end of block
		crc := crc32.NewIEEE()
		io.WriteString(crc, prefix)
		repeat(crc, ' ', n)
		io.WriteString(crc, suffix)
		size := uint64(len(prefix)) + uint64(n) + uint64(len(suffix))
		if declared == 0 {
			declared = size
		}
		data := bw.bytes()
		w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc.Sum32(),
			CompressedSize64: uint64(len(data)), UncompressedSize64: declared})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
}

// bitWriter writes a deflate stream: values least significant bit first,
// Huffman codes most significant bit first.
type bitWriter struct {
	out   []byte
	acc   uint64
	nbits uint
}

func (b *bitWriter) bits(v uint64, n uint) {
	b.acc |= v << b.nbits
	b.nbits += n
	for b.nbits >= 8 {
		b.out = append(b.out, byte(b.acc))
		b.acc >>= 8
		b.nbits -= 8
	}
}

func (b *bitWriter) code(c uint64, n uint) {
	var r uint64
	for i := range n {
		r |= (c >> i & 1) << (n - 1 - i)
	}
	b.bits(r, n)
}

func (b *bitWriter) literal(c byte) {
	if c < 144 {
		b.code(0x30+uint64(c), 8)
	} else {
		b.code(0x190+uint64(c-144), 9)
	}
}

func (b *bitWriter) bytes() []byte {
	if b.nbits > 0 {
		return append(b.out, byte(b.acc))
	}
	return b.out
}

// tempEntries returns the names in dir, which tests point TMPDIR at.
func tempEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestXLSXHostile reads workbooks built to exhaust memory, disk or time
// (issue 11 #2): each is refused with a *DataLimitError naming the sheet and
// the cell or row where it can, and leaves no temporary file behind. Peak
// memory is measured apart (see the package's report); the reader scans
// them holding at most a row's markup.
func TestXLSXHostile(t *testing.T) {
	header := xlsxHeaderRow(1, "email", "note")
	sheetStart := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` + header
	sheetEnd := `</sheetData></worksheet>`
	tests := []struct {
		name    string
		build   func(t *testing.T, path string)
		want    DataLimitError
		wantErr string // the error's text
	}{
		{
			name: "one 120 MB shared string used by 200 rows",
			build: func(t *testing.T, path string) {
				var rows strings.Builder
				for i := 2; i <= 201; i++ {
					fmt.Fprintf(&rows, `<row r="%d"><c r="A%d" t="s"><v>0</v></c><c r="B%d" t="s"><v>1</v></c></row>`, i, i, i)
				}
				rawBook{strings: []string{"<t>a@example.com</t>", "<t>x</t>"}, sheets: []rawSheet{{"Sheet1", header + rows.String()}}}.write(t, path)
				replacePart(t, path, "xl/sharedStrings.xml", streamedPart(t, "xl/sharedStrings.xml", func(w io.Writer) {
					io.WriteString(w, `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>a@example.com</t></si><si><t>`)
					repeat(w, 'x', 120<<20)
					io.WriteString(w, `</t></si></sst>`)
				}))
			},
			want:    DataLimitError{File: "people.xlsx", Sheet: "Sheet1", Cell: "B2", What: "cell", Limit: 1 << 20},
			wantErr: `merge: people.xlsx: sheet "Sheet1" cell B2: cell is larger than 1 MB`,
		},
		{
			name: "a shared string too large that no cell uses",
			build: func(t *testing.T, path string) {
				rawBook{strings: []string{"<t>a</t>"}, sheets: []rawSheet{{"Sheet1", header}}}.write(t, path)
				replacePart(t, path, "xl/sharedStrings.xml", streamedPart(t, "xl/sharedStrings.xml", func(w io.Writer) {
					io.WriteString(w, `<sst><si><t>a</t></si><si><t>`)
					repeat(w, 'x', 3<<20)
					io.WriteString(w, `</t></si></sst>`)
				}))
			},
			want:    DataLimitError{File: "people.xlsx", What: "shared string 1", Limit: 1 << 20},
			wantErr: `merge: people.xlsx: shared string 1 is larger than 1 MB`,
		},
		{
			name: "a sheet padded with 1.9 GB of white space",
			build: func(t *testing.T, path string) {
				rawBook{sheets: []rawSheet{{"Sheet1", header}}}.write(t, path)
				replacePart(t, path, "xl/worksheets/sheet1.xml", paddedPart(t, "xl/worksheets/sheet1.xml",
					sheetStart, 1900<<20, `<row r="2"><c r="A2"><v>1</v></c></row>`+sheetEnd, 0))
			},
			want:    DataLimitError{File: "people.xlsx", What: "the unpacked workbook", Limit: 1 << 30},
			wantErr: `merge: people.xlsx: the unpacked workbook is larger than 1 GB`,
		},
		{
			name: "the same sheet declaring 1 kB",
			build: func(t *testing.T, path string) {
				rawBook{sheets: []rawSheet{{"Sheet1", header}}}.write(t, path)
				replacePart(t, path, "xl/worksheets/sheet1.xml", paddedPart(t, "xl/worksheets/sheet1.xml",
					sheetStart, 1900<<20, `<row r="2"><c r="A2"><v>1</v></c></row>`+sheetEnd, 1<<10))
			},
			wantErr: "merge: people.xlsx: the workbook is damaged: xl/worksheets/sheet1.xml: zip: not a valid zip file",
		},
		{
			name: "900 MB of white space between two rows",
			build: func(t *testing.T, path string) {
				rawBook{sheets: []rawSheet{{"Sheet1", header}}}.write(t, path)
				replacePart(t, path, "xl/worksheets/sheet1.xml", paddedPart(t, "xl/worksheets/sheet1.xml",
					sheetStart+`<row r="2"><c r="A2"><v>1</v></c></row>`, 900<<20, `<row r="3"><c r="A3"><v>1</v></c></row>`+sheetEnd, 0))
			},
			want:    DataLimitError{File: "people.xlsx", Sheet: "Sheet1", What: "the markup after row 2", Limit: 4 << 20},
			wantErr: `merge: people.xlsx: sheet "Sheet1": the markup after row 2 is larger than 4 MB`,
		},
		{
			name: "900 MB of white space inside a row",
			build: func(t *testing.T, path string) {
				rawBook{sheets: []rawSheet{{"Sheet1", header}}}.write(t, path)
				replacePart(t, path, "xl/worksheets/sheet1.xml", paddedPart(t, "xl/worksheets/sheet1.xml",
					sheetStart+`<row r="2"><c r="A2"><v>1</v></c>`, 900<<20, `</row>`+sheetEnd, 0))
			},
			want:    DataLimitError{File: "people.xlsx", Sheet: "Sheet1", Row: 2, What: "row", Limit: 4 << 20},
			wantErr: `merge: people.xlsx: sheet "Sheet1" row 2: row is larger than 4 MB`,
		},
		{
			name: "900 MB of white space in a cell",
			build: func(t *testing.T, path string) {
				rawBook{sheets: []rawSheet{{"Sheet1", header}}}.write(t, path)
				replacePart(t, path, "xl/worksheets/sheet1.xml", paddedPart(t, "xl/worksheets/sheet1.xml",
					sheetStart+`<row r="7"><c r="B7" t="inlineStr"><is><t>`, 900<<20, `</t></is></c></row>`+sheetEnd, 0))
			},
			want:    DataLimitError{File: "people.xlsx", Sheet: "Sheet1", Cell: "B7", What: "cell", Limit: 1 << 20},
			wantErr: `merge: people.xlsx: sheet "Sheet1" cell B7: cell is larger than 1 MB`,
		},
		{
			name: "900 MB of white space before the rows",
			build: func(t *testing.T, path string) {
				rawBook{sheets: []rawSheet{{"Sheet1", header}}}.write(t, path)
				replacePart(t, path, "xl/worksheets/sheet1.xml", paddedPart(t, "xl/worksheets/sheet1.xml",
					`<worksheet>`, 900<<20, `<sheetData>`+header+sheetEnd, 0))
			},
			want:    DataLimitError{File: "people.xlsx", Sheet: "Sheet1", What: "the markup before the rows", Limit: 16 << 20},
			wantErr: `merge: people.xlsx: sheet "Sheet1": the markup before the rows is larger than 16 MB`,
		},
		{
			name: "a row of 5 MB in cells of 100 kB",
			build: func(t *testing.T, path string) {
				var row strings.Builder
				row.WriteString(`<row r="3">`)
				for i := range 50 {
					fmt.Fprintf(&row, `<c r="%s3" t="inlineStr"><is><t>%s</t></is></c>`, columnLetters(i), strings.Repeat("y", 100<<10))
				}
				row.WriteString(`</row>`)
				rawBook{sheets: []rawSheet{{"Sheet1", header + xlsxHeaderRow(2, "a@example.com", "x") + row.String()}}}.write(t, path)
			},
			want:    DataLimitError{File: "people.xlsx", Sheet: "Sheet1", Cell: "AO3", What: "row", Limit: 4 << 20},
			wantErr: `merge: people.xlsx: sheet "Sheet1" cell AO3: row is larger than 4 MB`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			path := filepath.Join(t.TempDir(), "people.xlsx")
			tt.build(t, path)
			r, err := OpenData(path, DataOptions{Name: "people.xlsx"})
			if err == nil {
				r.Close()
				t.Fatal("OpenData succeeded")
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q\nwant    %q", err, tt.wantErr)
			}
			var le *DataLimitError
			if tt.want.What != "" && (!errors.As(err, &le) || *le != tt.want) {
				t.Errorf("error %v: *DataLimitError %+v, want %+v", err, le, tt.want)
			}
			if left := tempEntries(t, tmp); len(left) > 0 {
				t.Errorf("left in the temporary directory: %q", left)
			}
		})
	}
}

// TestXLSXTemporaryFiles checks that excelize's temporary files, which
// hold recipients' data, live in a private directory removed on every way
// out: Close, an error, a cancelled context, and a run killed earlier.
func TestXLSXTemporaryFiles(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	path := filepath.Join(t.TempDir(), "t.xlsx")
	rawBook{strings: []string{"<t>s</t>"}, sheets: []rawSheet{{"S", xlsxNumberRows(5000) + `<row><c t="s"><v>0</v></c></row>`}}}.write(t, path)
	limits := defaultDataLimits()
	limits.xlsxUnzipXML = 1 // the sheet and shared strings go to files
	opts := DataOptions{Name: "t.xlsx", limits: &limits}

	// A run killed while reading left its directory; a dead process's
	// directory is removed, a live one's is not.
	dead := filepath.Join(tmp, tempDirPrefix+"999999999-x")
	live := filepath.Join(tmp, fmt.Sprintf("%s%d-x", tempDirPrefix, os.Getppid()))
	for _, d := range []string{dead, live} {
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
	}

	r, err := OpenData(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the directory of a dead process is still there: %v", err)
	}
	os.RemoveAll(live)
	var private string
	for _, n := range tempEntries(t, tmp) {
		private = filepath.Join(tmp, n)
		fi, err := os.Stat(private)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("temporary directory %s: %v, %v; want one of mode 0700", n, fi.Mode(), err)
		}
	}
	if files := tempEntries(t, private); len(files) == 0 {
		t.Errorf("no temporary files in %s; the test means excelize to make some", private)
	}
	if rows := readRecords(t, r, "t.xlsx"); len(rows) != 5001 {
		t.Errorf("read %d rows, want 5001", len(rows))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if left := tempEntries(t, tmp); len(left) > 0 {
		t.Errorf("after Close: left %q", left)
	}

	// Cancelled at the n-th look at the context, for every n up to the
	// end of opening: each gives the context's error and leaves nothing.
	for n := 1; ; n++ {
		ctx := &countdownContext{Context: context.Background(), n: n}
		r, err := OpenDataContext(ctx, path, opts)
		if err == nil {
			// Opened before the n-th look: reading stops at it instead.
			for err == nil {
				_, err = r.Next()
			}
			r.Close()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("n=%d: Next = %v, want context.Canceled", n, err)
			}
			if left := tempEntries(t, tmp); len(left) > 0 {
				t.Fatalf("n=%d: left %q", n, left)
			}
			break
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("n=%d: OpenDataContext = %v, want context.Canceled", n, err)
		}
		// excelize may still be opening in the background, and removes
		// the directory when it is done: wait for that.
		for i := 0; len(tempEntries(t, tmp)) > 0; i++ {
			if i == 10_000 {
				t.Fatalf("n=%d: left %q", n, tempEntries(t, tmp))
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// countdownContext is cancelled from the n-th call of Err on, so that a
// test can stop an operation at every point where it looks.
type countdownContext struct {
	context.Context
	n int
}

func (c *countdownContext) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

func (c *countdownContext) Done() <-chan struct{} {
	if c.n <= 0 {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return nil
}
