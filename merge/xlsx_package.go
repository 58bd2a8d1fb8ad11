package merge

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// tempDirPrefix begins the name of the private directory, in the system's
// temporary directory, that holds a workbook's copy and excelize's
// temporary files while it is read; the process ID follows, so that a
// later run can remove what a killed one left.
const tempDirPrefix = "mailshot-xlsx-"

// newTempDir creates a private (0700) directory for reading one workbook,
// first removing those left by processes that no longer run.
func newTempDir() (string, error) {
	sweepTempDirs()
	return os.MkdirTemp("", tempDirPrefix+strconv.Itoa(os.Getpid())+"-")
}

// sweepTempDirs removes the directories of newTempDir whose process is
// gone: a run killed while reading a workbook leaves recipient data behind.
func sweepTempDirs() {
	entries, err := os.ReadDir(os.TempDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), tempDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if n, err := strconv.Atoi(pid); err == nil && n != os.Getpid() && !processRuns(n) {
			os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

// copyContext copies src to dst until EOF, an error, or ctx is done.
func copyContext(ctx context.Context, dst io.Writer, src io.Reader) error {
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// snapshotWorkbook copies the workbook at path into dir, recording its
// bytes in record or checking them against verify, and returns the copy's
// path: everything read of the workbook from then on is read from a copy
// whose bytes the digest covers.
func snapshotWorkbook(ctx context.Context, path, name, dir string, limits dataLimits, record, verify *dataDigest) (string, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("merge: %w", err)
	}
	defer src.Close()
	if fi, err := src.Stat(); err == nil && fi.Size() > limits.xlsxUnzip {
		return "", fmt.Errorf("merge: %w", &DataLimitError{File: name, What: "the workbook", Limit: limits.xlsxUnzip})
	}
	var in io.Reader = src
	switch {
	case verify != nil:
		in = newVerifyingReader(src, verify)
	case record != nil:
		rr := newRecordingReader(src, record)
		defer rr.finish()
		in = rr
	}
	in = io.LimitReader(in, limits.xlsxUnzip+1)
	copyPath := filepath.Join(dir, "source.xlsx")
	dst, err := os.OpenFile(copyPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("merge: %w", err)
	}
	err = copyContext(ctx, dst, in)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(err, ErrDataChanged):
		return "", fmt.Errorf("merge: %s: %w", name, err)
	case err != nil:
		return "", fmt.Errorf("merge: %s: %w", name, err)
	}
	return copyPath, nil
}

// prepareWorkbook checks the workbook copy at src against limits and
// writes, next to it, a workbook holding only the parts reading the sheet
// needs (the package's and workbook's relationships, the workbook, styles,
// shared strings and the sheet itself), each unpacked once and scanned, so
// that excelize cannot meet a part larger than the limits allow.
func prepareWorkbook(ctx context.Context, src, name, sheet string, limits dataLimits) (preparedWorkbook, error) {
	z, err := zip.OpenReader(src)
	if err != nil {
		if isCompoundFile(src) {
			return preparedWorkbook{}, fmt.Errorf("merge: %s: the workbook is encrypted or in the Excel 97-2003 format; save it as .xlsx without a password", name)
		}
		return preparedWorkbook{}, fmt.Errorf("merge: %s: not an XLSX workbook: %w", name, err)
	}
	defer z.Close()
	files := make(map[string]*zip.File, len(z.File))
	for _, f := range z.File {
		files[strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))] = f
	}
	wp, err := findParts(files, sheet, limits.xlsxSheetHead)
	if err != nil {
		return preparedWorkbook{}, fmt.Errorf("merge: %s: the workbook is damaged: %w", name, err)
	}
	keep := map[string]bool{
		"[content_types].xml": true, "_rels/.rels": true, "xl/styles.xml": true, "xl/sharedstrings.xml": true,
		strings.ToLower(wp.workbook): true, strings.ToLower(wp.rels): true,
	}
	if wp.sheet != "" {
		keep[strings.ToLower(wp.sheet)] = true
	}
	var parts []*zip.File
	var total, inMemory uint64
	for _, f := range z.File {
		part := strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))
		if !keep[part] {
			continue
		}
		parts = append(parts, f)
		size := f.UncompressedSize64
		if size > uint64(limits.xlsxUnzip) || total+size > uint64(limits.xlsxUnzip) {
			return preparedWorkbook{}, fmt.Errorf("merge: %w", &DataLimitError{File: name, What: "the unpacked workbook", Limit: limits.xlsxUnzip})
		}
		total += size
		// Like excelize, count a sheet and the shared strings beyond
		// xlsxUnzipXML bytes as unpacked to temporary files, the rest as
		// held in memory.
		spilled := (part == strings.ToLower(wp.sheet) || part == "xl/sharedstrings.xml") && size > uint64(limits.xlsxUnzipXML)
		if !spilled {
			inMemory += size
			if inMemory > uint64(limits.xlsxInMemory) {
				return preparedWorkbook{}, fmt.Errorf("merge: %w", &DataLimitError{File: name, What: "the unpacked workbook without its sheet", Limit: limits.xlsxInMemory})
			}
		}
	}

	scan := &workbookScan{ctx: ctx, file: name, limits: limits}
	var sst *sharedStrings
	if f := files["xl/sharedstrings.xml"]; f != nil {
		if sst, err = scan.sharedStrings(f); err != nil {
			return preparedWorkbook{}, scanError(err)
		}
	}
	for _, f := range parts {
		part := strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))
		switch part {
		case "xl/sharedstrings.xml":
		case strings.ToLower(wp.sheet):
			err = scan.sheet(f, wp.sheetName, sst)
		default:
			err = scan.plain(f)
		}
		if err != nil {
			return preparedWorkbook{}, scanError(err)
		}
	}
	if wp.sheet == "" {
		if err := scan.unusedString(sst); err != nil {
			return preparedWorkbook{}, scanError(err)
		}
	}

	bookPath := filepath.Join(filepath.Dir(src), "book.xlsx")
	out, err := os.OpenFile(bookPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return preparedWorkbook{}, fmt.Errorf("merge: %w", err)
	}
	zw := zip.NewWriter(out)
	for _, f := range parts {
		if err = zw.Copy(f); err != nil {
			break
		}
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return preparedWorkbook{}, fmt.Errorf("merge: %s: %w", name, err)
	}
	return preparedWorkbook{path: bookPath, sheet: wp.sheet, unsavedFormulas: scan.unsaved > 0}, nil
}

// preparedWorkbook is what prepareWorkbook made and learnt.
type preparedWorkbook struct {
	path  string // the workbook cut down to the parts reading the sheet needs
	sheet string // the sheet's part in it, as named in the package; "" if none
	// unsavedFormulas reports that some cell of the sheet holds a formula
	// but no value.
	unsavedFormulas bool
}

// scanError adds the package prefix to an error of a workbook scan, or
// returns ctx's error as it is.
func scanError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("merge: %w", err)
}

// openWorkbook opens the prepared workbook at path with excelize, its
// temporary files in dir. excelize does not take a context, so it runs
// apart: when ctx is done first, openWorkbook returns at once, and the
// workbook is closed when excelize is done with it.
func openWorkbook(ctx context.Context, path, dir string, limits dataLimits) (*excelize.File, error) {
	type opened struct {
		book *excelize.File
		err  error
	}
	done := make(chan opened, 1)
	go func() {
		book, err := excelize.OpenFile(path, excelize.Options{
			UnzipSizeLimit:    limits.xlsxUnzip,
			UnzipXMLSizeLimit: limits.xlsxUnzipXML,
			TmpDir:            dir,
			// Format 14, the system's short date and the format Excel
			// gives a date typed in, depends on a locale the reader does
			// not know: show it, and the date in format 22, unambiguously.
			ShortDatePattern: "yyyy-mm-dd",
		})
		if err != nil && book != nil {
			book.Close()
			book = nil
		}
		done <- opened{book, err}
	}()
	select {
	case o := <-done:
		return o.book, o.err
	case <-ctx.Done():
		go func() {
			if o := <-done; o.book != nil {
				o.book.Close()
			}
			os.RemoveAll(dir) // again: excelize may have made files since
		}()
		return nil, ctx.Err()
	}
}
