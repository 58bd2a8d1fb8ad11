package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

func TestZZProfileSend(t *testing.T) {
	os.Remove("/tmp/bench/j.jsonl")
	err := run(context.Background(), strings.Fields("send -t /tmp/bench/tpl -d /tmp/bench/rows.csv --smtp smtp://127.0.0.1:2526 --connections 16 --max-per-conn 0 --journal /tmp/bench/j.jsonl"), strings.NewReader(""), io.Discard, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
}
