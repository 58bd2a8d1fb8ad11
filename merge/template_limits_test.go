package merge

import (
	"context"
	"errors"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestTemplateFilesBounded checks that a template file that is not a
// regular file, or is too large, is an error naming the file, found before
// anything is read: a message.txt linked to /dev/zero once ran out of
// memory, and a FIFO blocked forever.
func TestTemplateFilesBounded(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // in the error, after the template directory
	}{
		{"message.txt is /dev/zero", func(t *testing.T, dir string) {
			symlink(t, "/dev/zero", filepath.Join(dir, "message.txt"))
		}, "DIR/message.txt: not a regular file but a device"},
		{"message.html is /dev/zero", func(t *testing.T, dir string) {
			symlink(t, "/dev/zero", filepath.Join(dir, "message.html"))
		}, "DIR/message.html: not a regular file but a device"},
		{"message.html is a FIFO", func(t *testing.T, dir string) {
			mkfifo(t, filepath.Join(dir, "message.html"))
		}, "DIR/message.html: not a regular file but a named pipe"},
		{"message.txt is a directory", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "message.txt"))
			os.Mkdir(filepath.Join(dir, "message.txt"), 0o700)
		}, "DIR/message.txt: not a regular file but a directory"},
		{"message.txt is huge", func(t *testing.T, dir string) {
			sparse(t, filepath.Join(dir, "message.txt"), 1<<30)
		}, "DIR/message.txt: 1073741824 octets, more than the 4194304 allowed"},
		{"attach a FIFO", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "message.txt"), okHeaders+"\n{{attach \"pipe.pdf\"}}\n")
			mkfifo(t, filepath.Join(dir, "pipe.pdf"))
		}, `message.txt:5:2: attach "pipe.pdf": DIR/pipe.pdf: not a regular file but a named pipe`},
		{"inline a FIFO", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "message.html"), `<img src="{{inline "pipe.png"}}">`)
			mkfifo(t, filepath.Join(dir, "pipe.png"))
		}, `inline "pipe.png": DIR/pipe.png: not a regular file but a named pipe`},
		{"attach a huge file", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "message.txt"), okHeaders+"\n{{attach \"big.pdf\"}}\n")
			sparse(t, filepath.Join(dir, "big.pdf"), 1<<40)
		}, `DIR/big.pdf: 1099511627776 octets, more than the 18874368 allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTemplate(t, map[string]string{})
			write(t, filepath.Join(dir, "message.txt"), okHeaders+"\nHi\n")
			tt.setup(t, dir)
			_, err := LoadTemplate(dir, TemplateOptions{})
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "merge: ") {
				t.Errorf("LoadTemplate: %v\nwant an error containing %s", err, want)
			}
		})
	}

	t.Run("attach a FIFO named by a column", func(t *testing.T) {
		dir := writeTemplate(t, map[string]string{"message.txt": okHeaders + "\n{{attach .file}}\n"})
		mkfifo(t, filepath.Join(dir, "pipe.pdf"))
		tmpl, err := LoadTemplate(dir, TemplateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tmpl.Render(&Record{File: "p.csv", Row: 2, Columns: NewColumns([]string{"email", "file"}), Values: []string{"a@example.test", "pipe.pdf"}})
		var re *RowError
		if !errors.As(err, &re) || re.Column != "file" || !strings.Contains(err.Error(), "pipe.pdf: not a regular file but a named pipe") {
			t.Errorf("Render: %v", err)
		}
	})
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	os.Remove(link)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sparse makes path a file of size octets that takes no room on disk.
func sparse(t *testing.T, path string, size int64) {
	t.Helper()
	os.Remove(path)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
}

// TestRenderLimits checks that a message larger than MaxMessageSize, or
// whose loops run more than MaxIterations times, is a row error naming the
// template file, whatever makes it large: text, HTML, headers, files, loops
// that print nothing, templates that call themselves.
func TestRenderLimits(t *testing.T) {
	const html = "<p>{{.name}}</p>"
	tests := []struct {
		name     string
		files    map[string]string
		opts     TemplateOptions
		file     string // the file the error names
		iter     bool   // the limit on iterations, not size
		limit    int64
		wantText string // "" when the row must be refused
	}{
		{name: "text", files: map[string]string{"message.txt": okHeaders + "\n{{range 1000000000}}0123456789{{end}}"},
			opts: TemplateOptions{MaxMessageSize: 1000}, file: "message.txt", limit: 1000},
		{name: "html", files: map[string]string{"message.txt": okHeaders + "\nHi", "message.html": "{{range 1000000000}}<p>{{$.name}}</p>{{end}}"},
			opts: TemplateOptions{MaxMessageSize: 1000}, file: "message.html", limit: 1000},
		{name: "header", files: map[string]string{"message.txt": okHeaders + "X-Long: {{range 1000000000}}x{{end}}\n\nHi"},
			opts: TemplateOptions{MaxMessageSize: 1000}, file: "message.txt", limit: 1000},
		{name: "cell printed often", files: map[string]string{"message.txt": okHeaders + "\n{{range 400}}{{$.name}}{{end}}"},
			opts: TemplateOptions{MaxMessageSize: 1000}, file: "message.txt", limit: 1000},
		{name: "attachment", files: map[string]string{"message.txt": okHeaders + "\n{{attach \"a.pdf\"}}Hi", "a.pdf": "%PDF" + strings.Repeat("x", 800)},
			opts: TemplateOptions{MaxMessageSize: 1000}, file: "message.txt", limit: 1000},
		{name: "inline image", files: map[string]string{"message.txt": okHeaders + "\nHi", "message.html": html + `<img src="{{inline "a.png"}}">`, "a.png": pngBytes + strings.Repeat("x", 800)},
			opts: TemplateOptions{MaxMessageSize: 1000}, file: "message.html", limit: 1000},
		{name: "silent loop", files: map[string]string{"message.txt": okHeaders + "\n{{range 1000000000}}{{end}}"},
			opts: TemplateOptions{MaxIterations: 1000}, file: "message.txt", iter: true, limit: 1000},
		{name: "nested silent loops", files: map[string]string{"message.txt": okHeaders + "\nHi", "message.html": "{{range 100000}}{{range 100000}}{{end}}{{end}}"},
			opts: TemplateOptions{MaxIterations: 1000}, file: "message.html", iter: true, limit: 1000},
		{name: "silent recursion", files: map[string]string{"message.txt": okHeaders + "\n{{define \"r\"}}{{template \"r\" .}}{{template \"r\" .}}{{end}}{{template \"r\" .}}"},
			opts: TemplateOptions{MaxIterations: 1000}, file: "message.txt", iter: true, limit: 1000},
		{name: "within the limits", files: map[string]string{"message.txt": okHeaders + "\n{{range 3}}{{$.name}}{{end}}"},
			opts: TemplateOptions{MaxMessageSize: 1000, MaxIterations: 3}, wantText: "AdaAdaAda"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTemplate(t, tt.files)
			tmpl, err := LoadTemplate(dir, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			m, err := tmpl.Render(&Record{File: "p.csv", Row: 3, Columns: NewColumns([]string{"email", "name"}), Values: []string{"a@example.test", "Ada"}})
			if tt.wantText != "" {
				if err != nil || m.Text != tt.wantText {
					t.Fatalf("Render = %v, %v; want the text %q", m, err, tt.wantText)
				}
				return
			}
			var re *RowError
			var le *LimitError
			if !errors.As(err, &re) || re.Row != 3 || !errors.As(err, &le) {
				t.Fatalf("Render: %v; want a *RowError for row 3 holding a *LimitError", err)
			}
			want := LimitError{File: filepath.Join(dir, tt.file), Iterations: tt.iter, Limit: tt.limit}
			if *le != want {
				t.Errorf("LimitError %+v, want %+v", *le, want)
			}
		})
	}
}

// TestLimitErrorText is what a person reads.
func TestLimitErrorText(t *testing.T) {
	for _, tt := range []struct {
		err  LimitError
		want string
	}{
		{LimitError{File: "t/message.html", Limit: 26214400}, "t/message.html: the rendered message is larger than 26214400 octets"},
		{LimitError{File: "t/message.txt", Iterations: true, Limit: 10000000}, "t/message.txt: the template's loops ran more than 10000000 times for one message"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// doneAfter is a context that becomes done after Err has been asked n
// times: cancellation in the middle of a render, without timing.
type doneAfter struct {
	context.Context
	n, calls atomic.Int64
}

func (c *doneAfter) Err() error {
	if c.calls.Add(1) > c.n.Load() {
		return context.Canceled
	}
	return nil
}

func (c *doneAfter) Done() <-chan struct{} { return nil }

// TestRenderCancelled checks that a render stops soon after its context is
// done, in loops that print and in loops that do not, and returns an error
// that wraps context.Canceled and is not a row error. Without the checks the
// loops below would run for minutes.
func TestRenderCancelled(t *testing.T) {
	for _, tt := range []struct{ name, txt, html string }{
		{name: "printing loop", txt: "{{range 1000000000}}x{{end}}"},
		{name: "silent loop", txt: "{{range 1000000000}}{{end}}"},
		{name: "silent loop in HTML", txt: "Hi", html: "<p>{{range 1000000000}}{{end}}</p>"},
		{name: "silent nested loops", txt: "{{range 100000}}{{range 100000}}{{end}}{{end}}"},
		{name: "recursion", txt: `{{define "r"}}{{template "r" .}}{{template "r" .}}{{end}}{{template "r" .}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"message.txt": okHeaders + "\n" + tt.txt}
			if tt.html != "" {
				files["message.html"] = tt.html
			}
			tmpl, err := LoadTemplate(writeTemplate(t, files), TemplateOptions{MaxIterations: 1 << 62, MaxMessageSize: 1 << 62})
			if err != nil {
				t.Fatal(err)
			}
			ctx := &doneAfter{Context: context.Background()}
			ctx.n.Store(50)
			_, err = tmpl.RenderContext(ctx, &Record{File: "p.csv", Row: 2, Columns: NewColumns([]string{"email"}), Values: []string{"a@example.test"}})
			var re *RowError
			if !errors.Is(err, context.Canceled) || errors.As(err, &re) {
				t.Fatalf("RenderContext: %v; want context.Canceled, not a row error", err)
			}
			// It stopped at the first look after the context was done
			// (the rest are the error path's own looks).
			if calls := ctx.calls.Load(); calls > 51+3 {
				t.Errorf("the context was asked %d times, want at most %d", calls, 51+3)
			}
		})
	}
}

// TestTicksChangeNothing checks that the checks added to loops print
// nothing in any HTML context: the output equals html/template's own for
// the same source.
func TestTicksChangeNothing(t *testing.T) {
	const src = `<script>var a = [{{range 3}}{{$.name}},{{end}}];</script>` +
		`<a href="/x?{{range 2}}n={{$.name}}&amp;{{end}}" title="{{range 2}}{{$.name}}{{end}}">` +
		`<style>{{range 2}}p { color: red }{{end}}</style>` +
		`{{define "t"}}<b>{{.}}</b>{{end}}{{range 2}}{{template "t" $.name}}{{end}}`
	dir := writeTemplate(t, map[string]string{"message.txt": okHeaders + "\nHi", "message.html": src})
	tmpl, err := LoadTemplate(dir, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Render(&Record{File: "p.csv", Row: 2, Columns: NewColumns([]string{"email", "name"}), Values: []string{"a@example.test", `O'Hara "<x>"`}})
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	if err := htmltemplate.Must(htmltemplate.New("x").Parse(src)).Execute(&want, map[string]string{"name": `O'Hara "<x>"`}); err != nil {
		t.Fatal(err)
	}
	if m.HTML != want.String() {
		t.Errorf("HTML\n%s\nwant, as html/template writes it,\n%s", m.HTML, want.String())
	}
}

// BenchmarkRenderCancel measures how long a render stuck in a silent loop
// takes to return once its context is cancelled.
func BenchmarkRenderCancel(b *testing.B) {
	tmpl, err := LoadTemplate(writeTemplate(b, map[string]string{"message.txt": okHeaders + "\n{{range 1000000000}}{{end}}"}),
		TemplateOptions{MaxIterations: 1 << 62})
	if err != nil {
		b.Fatal(err)
	}
	rec := &Record{File: "p.csv", Row: 2, Columns: NewColumns([]string{"email"}), Values: []string{"a@example.test"}}
	var worst time.Duration
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan time.Time)
		go func() {
			tmpl.RenderContext(ctx, rec)
			done <- time.Now()
		}()
		time.Sleep(time.Millisecond)
		start := time.Now()
		cancel()
		worst = max(worst, (<-done).Sub(start))
	}
	b.ReportMetric(float64(worst.Microseconds()), "µs-worst-to-stop")
}

// BenchmarkRenderLoop measures the cost of the checks in loops.
func BenchmarkRenderLoop(b *testing.B) {
	tmpl, err := LoadTemplate(writeTemplate(b, map[string]string{"message.txt": okHeaders + "\n{{range 100000}}{{end}}"}), TemplateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rec := &Record{File: "p.csv", Row: 2, Columns: NewColumns([]string{"email"}), Values: []string{"a@example.test"}}
	for b.Loop() {
		if _, err := tmpl.Render(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100000, "ns/iteration")
}
