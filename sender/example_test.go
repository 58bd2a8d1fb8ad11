package sender_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtptest"
)

// Run a batch with a journal, then run it again as a person would after a
// stop or a crash: the pool leaves out everyone the journal has as sent, so
// nobody gets the message twice.
func Example() {
	srv, err := smtptest.NewServer(smtptest.Options{}) // an SMTP server on loopback
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "batch")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	j, err := journal.Open(filepath.Join(dir, "batch.journal.jsonl"))
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()
	ep, err := sender.ParseURL("smtp://" + srv.Addr)
	if err != nil {
		log.Fatal(err)
	}
	pool, err := sender.NewPool(sender.Config{Endpoint: ep, Journal: j, Connections: 2})
	if err != nil {
		log.Fatal(err)
	}

	// The batch: any sequence of messages, here three built in place.
	batch := func(yield func(*sender.Message, error) bool) {
		for i, to := range []string{"ada@example.org", "bob@example.org", "cy@example.org"} {
			body := fmt.Sprintf("From: news@example.com\r\nTo: %s\r\nSubject: News\r\n\r\nHello.\r\n", to)
			m := &sender.Message{Key: to, Row: i + 2, From: "news@example.com", To: []string{to}, Body: []byte(body)}
			if !yield(m, nil) {
				return
			}
		}
	}
	for range 2 {
		sum, err := pool.Run(context.Background(), batch)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("sent %d, already sent before %d\n", sum.Sent, sum.Skipped.Sent)
	}
	fmt.Println("the server got", len(srv.Messages()), "messages")
	// Output:
	// sent 3, already sent before 0
	// sent 0, already sent before 3
	// the server got 3 messages
}
