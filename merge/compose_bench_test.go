package merge

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchTemplate copies the announcement template into a new directory with
// its logo replaced by a noisy PNG of about 30 KB, and loads it. With
// perRow, the HTML names the image through the column "photo" instead of
// literally, so that it is read and encoded for every message.
func benchTemplate(b *testing.B, perRow bool) (*Template, int) {
	b.Helper()
	dir := b.TempDir()
	for _, name := range []string{"message.txt", "message.html"} {
		src, err := os.ReadFile(filepath.Join("../templates/announcement", name))
		if err != nil {
			b.Fatal(err)
		}
		if perRow {
			src = bytes.ReplaceAll(src, []byte(`{{inline "logo.png"}}`), []byte(`{{inline .photo}}`))
		}
		if err := os.WriteFile(filepath.Join(dir, name), src, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, 100, 100))
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "logo.png"), buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	tmpl, err := LoadTemplate(dir, TemplateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return tmpl, buf.Len()
}

// BenchmarkRenderCompose renders and composes the sample template, whose
// image is about 30 KB, into a reused buffer. With the image named in the
// template, its base64 is computed once, by LoadTemplate, and B/op stays
// below the image's size; the per-row case, which reads and encodes the
// image for every message, shows the difference. Run with -cpu 1 for
// messages per second on one core.
func BenchmarkRenderCompose(b *testing.B) {
	for _, perRow := range []bool{false, true} {
		name := "template-image"
		if perRow {
			name = "per-row-image"
		}
		b.Run(name, func(b *testing.B) {
			tmpl, size := benchTemplate(b, perRow)
			cols := NewColumns(append(sampleColumns[:len(sampleColumns):len(sampleColumns)], "photo"))
			recs := make([]*Record, len(sampleRows))
			for i, row := range sampleRows {
				recs[i] = &Record{File: "recipients.csv", Row: i + 2, Columns: cols, Values: append(row[:len(row):len(row)], "logo.png")}
			}
			var c Composer
			var out bytes.Buffer
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m, err := tmpl.Render(recs[i%len(recs)])
				if err != nil {
					b.Fatal(err)
				}
				out.Reset()
				if err := c.Compose(&out, m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(out.Len()), "msg-bytes")
			b.ReportMetric(float64(size), "image-bytes")
		})
	}
}

// BenchmarkRender renders the sample template without composing.
func BenchmarkRender(b *testing.B) {
	tmpl, _ := benchTemplate(b, false)
	cols := NewColumns(sampleColumns)
	rec := &Record{File: "recipients.csv", Row: 2, Columns: cols, Values: sampleRows[1]}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tmpl.Render(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPreview adds messages to a preview: B/op is the same whatever
// b.N is, because index.html is written as messages come and each image
// once.
func BenchmarkPreview(b *testing.B) {
	tmpl, _ := benchTemplate(b, false)
	cols := NewColumns(sampleColumns)
	p, err := NewPreview(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	var c Composer
	var out bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		row := append([]string(nil), sampleRows[i%len(sampleRows)]...)
		row[0] = fmt.Sprintf("p%d@example.com", i)
		m, err := tmpl.Render(&Record{File: "recipients.csv", Row: i + 2, Columns: cols, Values: row})
		if err != nil {
			b.Fatal(err)
		}
		out.Reset()
		if err := c.Compose(&out, m); err != nil {
			b.Fatal(err)
		}
		if err := p.Add(m, out.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// benchMessage renders the second sample row with benchTemplate's
// template, its image named literally.
func benchMessage(b *testing.B) *Message {
	tmpl, _ := benchTemplate(b, false)
	rec := &Record{File: "recipients.csv", Row: 2, Columns: NewColumns(sampleColumns), Values: sampleRows[1]}
	m, err := tmpl.Render(rec)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkCompose composes one rendered message of the sample template
// again and again, with a new Date and Message-ID each time as a send
// has, into a reused buffer.
func BenchmarkCompose(b *testing.B) {
	m := benchMessage(b)
	var c Composer
	var out bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Date, m.MessageID = time.Time{}, ""
		out.Reset()
		if err := c.Compose(&out, m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkComposeOwn composes one rendered message of the sample template
// as a send's second pass did and does: a buffer of its own for every
// message, which the sender keeps (whole), or the message's own octets in
// one and the logo's base64 lines shared (pieces). B/op shows the copy of
// the image that pieces leave out.
func BenchmarkComposeOwn(b *testing.B) {
	m := benchMessage(b)
	var c Composer
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Date, m.MessageID = time.Time{}, ""
			var out bytes.Buffer
			if err := c.Compose(&out, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pieces", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Date, m.MessageID = time.Time{}, ""
			if _, err := c.ComposePieces(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
