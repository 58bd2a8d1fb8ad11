package merge

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// (Named DataLimitError by the lead: merge/template_limits.go, another
// helper's file, declares DataLimitError for renders.)
//
// DataLimitError reports a data file that goes beyond one of the limits that
// keep reading it bounded in memory, time and disk: a cell, a row, or the
// bytes a workbook's parts unpack to. Such a file is refused whole: no row
// of it is read.
type DataLimitError struct {
	File  string // the data file, as named in records
	Sheet string // the worksheet concerned, or ""
	Cell  string // the cell concerned ("B7"), or ""
	Row   int    // the row concerned when no one cell is, or 0
	What  string // what is too large: "cell", "row", "shared string 3", ...
	Limit int64  // the limit it exceeds, in bytes, or in items when Count
	Count bool   // Limit counts items (shared strings), not bytes
}

// Error formats the error as `people.xlsx: sheet "Sheet1" cell B7: cell is
// larger than 1 MB`.
func (e *DataLimitError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Sheet != "" {
		fmt.Fprintf(&b, ": sheet %q", e.Sheet)
	}
	switch {
	case e.Cell != "":
		b.WriteString(" cell " + e.Cell)
	case e.Row != 0:
		b.WriteString(" row " + strconv.Itoa(e.Row))
	}
	if e.Count {
		fmt.Fprintf(&b, ": %s holds more than %d items", e.What, e.Limit)
	} else {
		fmt.Fprintf(&b, ": %s is larger than %s", e.What, limitSize(e.Limit))
	}
	return b.String()
}

// limitSize writes n bytes in the largest binary unit that divides it.
func limitSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d kB", n>>10)
	}
	return quantity(int(n), "byte")
}

// errPartLimit is what a partReader returns past its current limit.
var errPartLimit = errors.New("part limit reached")

// errTotalLimit is what a partReader returns when the workbook's parts
// together have unpacked to more than the limit.
var errTotalLimit = errors.New("workbook limit reached")

// partReader counts the bytes a workbook part unpacks to, fails a read
// beyond limit bytes from the part's start (moved forward as the scanner
// learns where it is) or beyond the workbook's total, and honours ctx.
type partReader struct {
	ctx   context.Context
	r     io.Reader
	n     int64  // bytes of this part read
	limit int64  // bytes of this part that may be read
	total *int64 // bytes of all parts read
	max   int64  // bytes all parts may unpack to
}

func (p *partReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	if p.n >= p.limit {
		return 0, errPartLimit
	}
	if rest := p.limit - p.n; int64(len(b)) > rest {
		b = b[:rest]
	}
	if len(b) > 64<<10 {
		b = b[:64<<10] // so that ctx is looked at often
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	*p.total += int64(n)
	if *p.total > p.max {
		return n, errTotalLimit
	}
	return n, err
}

// drain reads the rest of the part without a part limit, so that
// archive/zip checks its size and CRC-32.
func (p *partReader) drain() error {
	p.limit = 1<<63 - 1
	_, err := io.Copy(io.Discard, p)
	return err
}

// sharedStrings is what the scan of a shared string table learnt: the
// unpacked size of each item (an upper bound of its text), and the first
// item too large to read.
type sharedStrings struct {
	sizes []uint32
	over  int // index of the first item larger than the cell limit; -1 if none
}

// size returns the size of item i, 0 when it is unknown (after over).
func (s *sharedStrings) size(i int) int64 {
	if s == nil || i < 0 || i >= len(s.sizes) {
		return 0
	}
	return int64(s.sizes[i])
}

// workbookScan checks the parts of a workbook that excelize will read
// against limits, before excelize reads any of them. encoding/xml, used
// here as by excelize, holds a whole token in memory; the part reader's
// moving limit bounds every token by the cell or row it is in.
type workbookScan struct {
	ctx    context.Context
	file   string // the workbook's name in errors
	limits dataLimits
	total  int64 // bytes unpacked so far
	// unsaved counts the cells of the sheet that hold a formula but no
	// value: the workbook was never calculated and saved.
	unsaved int
}

// open opens f for a scan with limit bytes allowed to start with.
func (s *workbookScan) open(f *zip.File, limit int64) (*partReader, io.Closer, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, nil, err
	}
	return &partReader{ctx: s.ctx, r: rc, limit: limit, total: &s.total, max: s.limits.xlsxUnzip}, rc, nil
}

// damaged wraps an error met reading part name.
func (s *workbookScan) damaged(name string, err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, errTotalLimit):
		return &DataLimitError{File: s.file, What: "the workbook unpacked", Limit: s.limits.xlsxUnzip}
	}
	return fmt.Errorf("%s: the workbook is damaged: %s: %w", s.file, name, err)
}

// plain reads a part that is not scanned, only unpacked and counted.
func (s *workbookScan) plain(f *zip.File) error {
	p, c, err := s.open(f, 1<<63-1)
	if err != nil {
		return s.damaged(f.Name, err)
	}
	defer c.Close()
	if err := p.drain(); err != nil {
		return s.damaged(f.Name, err)
	}
	return nil
}

// sharedStrings scans the shared string table: every item at most the cell
// limit, at most xlsxStrings items, markup between them bounded.
func (s *workbookScan) sharedStrings(f *zip.File) (*sharedStrings, error) {
	lim := s.limits
	p, c, err := s.open(f, lim.xlsxSheetHead)
	if err != nil {
		return nil, s.damaged(f.Name, err)
	}
	defer c.Close()
	sst := &sharedStrings{over: -1}
	d := xml.NewDecoder(p)
	var start int64 = -1 // offset of the open <si>
	for {
		before := d.InputOffset()
		tok, err := d.RawToken()
		if err == io.EOF {
			return sst, nil
		}
		if errors.Is(err, errPartLimit) {
			if start < 0 {
				return nil, &DataLimitError{File: s.file, What: fmt.Sprintf("the markup after shared string %d", len(sst.sizes)), Limit: lim.xlsxCell}
			}
			// The item is too large. Note it and stop scanning: a cell
			// that uses it is named when the sheet is scanned.
			sst.over = len(sst.sizes)
			if err := p.drain(); err != nil {
				return nil, s.damaged(f.Name, err)
			}
			return sst, nil
		}
		if err != nil {
			return nil, s.damaged(f.Name, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "si" && start < 0 {
				start = before
				p.limit = start + lim.xlsxCell
			}
		case xml.EndElement:
			if t.Name.Local == "si" && start >= 0 {
				if len(sst.sizes) >= lim.xlsxStrings {
					return nil, &DataLimitError{File: s.file, What: "the shared string table", Limit: int64(lim.xlsxStrings), Count: true}
				}
				sst.sizes = append(sst.sizes, uint32(d.InputOffset()-start))
				start = -1
				p.limit = d.InputOffset() + lim.xlsxCell
			}
		}
	}
}

// sheet scans a worksheet part: the markup before its rows at most
// xlsxSheetHead bytes; every row, its markup and its values (shared
// strings counted at their size), at most xlsxRow; every cell at most
// xlsxCell; a cell using a shared string that is too large is named.
func (s *workbookScan) sheet(f *zip.File, sheet string, sst *sharedStrings) error {
	lim := s.limits
	p, c, err := s.open(f, lim.xlsxSheetHead)
	if err != nil {
		return s.damaged(f.Name, err)
	}
	defer c.Close()
	d := xml.NewDecoder(p)
	var (
		inData, inRow, inCell, inV bool
		shared                     bool
		formula, value             bool // the cell has an <f>, a <v> or <is>
		row, col                   int
		rowStart, cellStart        int64
		rowSize                    int64 // of the values in the row
		cell                       string
	)
	limitErr := func(what string, limit int64) error {
		e := &DataLimitError{File: s.file, Sheet: sheet, What: what, Limit: limit}
		switch {
		case inCell:
			e.Cell = cell
		case row > 0:
			e.Row = row
		}
		return e
	}
	for {
		before := d.InputOffset()
		tok, err := d.RawToken()
		switch {
		case err == io.EOF:
			if inData {
				return s.damaged(f.Name, io.ErrUnexpectedEOF)
			}
			return s.unusedString(sst)
		case errors.Is(err, errPartLimit):
			switch {
			case inCell && p.limit == cellStart+lim.xlsxCell:
				return limitErr("cell", lim.xlsxCell)
			case inCell:
				return limitErr("row", lim.xlsxRow)
			case !inData:
				return limitErr("the markup before the rows", lim.xlsxSheetHead)
			case inRow:
				return limitErr("row", lim.xlsxRow)
			case row > 0:
				return &DataLimitError{File: s.file, Sheet: sheet, What: fmt.Sprintf("the markup after row %d", row), Limit: lim.xlsxRow}
			}
			return limitErr("the markup before the first row", lim.xlsxRow)
		case err != nil:
			return s.damaged(f.Name, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "sheetData":
				inData = true
				p.limit = d.InputOffset() + lim.xlsxRow
			case !inData:
			case t.Name.Local == "row":
				if n, err := strconv.Atoi(xmlAttr(t, "r")); err == nil && n > 0 {
					row = n
				} else {
					row++
				}
				inRow, col, rowSize, rowStart = true, 0, 0, before
				p.limit = rowStart + lim.xlsxRow
			case t.Name.Local == "c":
				inCell, cellStart, shared = true, before, xmlAttr(t, "t") == "s"
				formula, value = false, false
				if c, ok := cellColumn(xmlAttr(t, "r")); ok {
					col = c
				} else {
					col++
				}
				cell = columnLetters(col-1) + strconv.Itoa(row)
				p.limit = min(rowStart+lim.xlsxRow, cellStart+lim.xlsxCell)
			case t.Name.Local == "v" && inCell:
				inV, value = true, true
			case t.Name.Local == "is" && inCell:
				value = true
			case t.Name.Local == "f" && inCell:
				formula = true
			}
		case xml.CharData:
			if !inV || !shared {
				break
			}
			i, err := strconv.Atoi(string(bytes.TrimSpace(t)))
			if err != nil {
				break
			}
			if sst != nil && i == sst.over {
				return limitErr("cell", lim.xlsxCell)
			}
			rowSize += sst.size(i)
		case xml.EndElement:
			switch {
			case !inData:
			case t.Name.Local == "v":
				inV = false
			case t.Name.Local == "c" && inCell:
				if !shared {
					rowSize += d.InputOffset() - cellStart
				}
				if rowSize > lim.xlsxRow {
					return limitErr("row", lim.xlsxRow)
				}
				if formula && !value {
					s.unsaved++
				}
				inCell, inV = false, false
				p.limit = rowStart + lim.xlsxRow
			case t.Name.Local == "row":
				inRow = false
				p.limit = d.InputOffset() + lim.xlsxRow
			case t.Name.Local == "sheetData":
				// excelize reads no further; check the rest unpacks.
				if err := p.drain(); err != nil {
					return s.damaged(f.Name, err)
				}
				return s.unusedString(sst)
			}
		}
	}
}

// unusedString reports a shared string too large to read that no cell of
// the sheet used: excelize would still unpack it.
func (s *workbookScan) unusedString(sst *sharedStrings) error {
	if sst == nil || sst.over < 0 {
		return nil
	}
	return &DataLimitError{File: s.file, What: fmt.Sprintf("shared string %d", sst.over), Limit: s.limits.xlsxCell}
}

// xmlAttr returns the value of the attribute of t with the local name name.
// (xmlAttr, not attr: merge/textpart.go, another helper's file, has attr.)
func xmlAttr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// cellColumn returns the column number (1 for A) of a cell reference such
// as "B7".
func cellColumn(ref string) (int, bool) {
	col := 0
	for i := 0; i < len(ref); i++ {
		c := ref[i] | 0x20 // lower case
		if c < 'a' || c > 'z' {
			if i == 0 {
				return 0, false
			}
			return col, col <= 16384
		}
		col = col*26 + int(c-'a'+1)
		if col > 16384 {
			return 0, false
		}
	}
	return 0, false
}

// workbookParts names the parts of a workbook that reading one sheet needs.
type workbookParts struct {
	workbook, rels string // the workbook part and its relationships
	sheet          string // the worksheet part of the sheet to read; "" if not found
	sheetName      string // its name
}

// findParts finds the workbook part (through the package relationships)
// and the part of the named sheet ("" for the first), as excelize does.
func findParts(files map[string]*zip.File, sheet string, limit int64) (workbookParts, error) {
	wp := workbookParts{workbook: "xl/workbook.xml"}
	var rels relationships
	if err := readSmallXML(files, "_rels/.rels", limit, &rels); err != nil {
		return wp, err
	}
	for _, r := range rels.Rels {
		if strings.HasSuffix(r.Type, "/officeDocument") {
			wp.workbook = strings.TrimPrefix(r.Target, "/")
		}
	}
	dir := path.Dir(wp.workbook)
	wp.rels = path.Join(dir, "_rels", path.Base(wp.workbook)+".rels")
	var book struct {
		Sheets []struct {
			Name  string     `xml:"name,attr"`
			Attrs []xml.Attr `xml:",any,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := readSmallXML(files, wp.workbook, limit, &book); err != nil {
		return wp, err
	}
	var names []string
	for _, s := range book.Sheets {
		names = append(names, s.Name)
	}
	if sheet == "" && len(names) > 0 {
		wp.sheetName = names[0]
	} else {
		wp.sheetName = findSheet(names, sheet)
	}
	var id string
	for _, s := range book.Sheets {
		if s.Name == wp.sheetName {
			for _, a := range s.Attrs {
				if a.Name.Local == "id" {
					id = a.Value
				}
			}
			break
		}
	}
	var bookRels relationships
	if err := readSmallXML(files, wp.rels, limit, &bookRels); err != nil {
		return wp, err
	}
	for _, r := range bookRels.Rels {
		if r.ID == id && id != "" {
			if strings.HasPrefix(r.Target, "/") {
				wp.sheet = strings.TrimPrefix(r.Target, "/")
			} else {
				wp.sheet = path.Join(dir, r.Target)
			}
		}
	}
	return wp, nil
}

// relationships is an OPC relationships part (ECMA-376 part 2, 9.3).
type relationships struct {
	Rels []struct {
		ID     string `xml:"Id,attr"`
		Type   string `xml:"Type,attr"`
		Target string `xml:"Target,attr"`
	} `xml:"Relationship"`
}

// readSmallXML decodes the part named name into v; a missing part leaves v
// as it is. The part may unpack to at most limit bytes.
func readSmallXML(files map[string]*zip.File, name string, limit int64, v any) error {
	f := files[strings.ToLower(name)]
	if f == nil {
		return nil
	}
	if f.UncompressedSize64 > uint64(limit) {
		return fmt.Errorf("%s is larger than %s", name, limitSize(limit))
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer rc.Close()
	if err := xml.NewDecoder(io.LimitReader(rc, limit)).Decode(v); err != nil && err != io.EOF {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
