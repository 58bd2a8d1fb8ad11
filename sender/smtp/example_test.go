package smtp_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/mailshot/mailshot/sender/smtp"
	"github.com/mailshot/mailshot/sender/smtptest"
)

// Send one message: dial, EHLO, STARTTLS when offered, AUTH when there are
// credentials, one transaction, QUIT. Here the server is an in-process one
// on loopback that offers neither TLS nor AUTH.
func Example() {
	srv, err := smtptest.NewServer(smtptest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := smtp.Dial(ctx, srv.Addr, &smtp.Config{LocalName: "client.example.com"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello(ctx); err != nil {
		log.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(ctx); err != nil {
			log.Fatal(err)
		}
	}
	body := "From: Ada <ada@example.com>\r\nTo: bob@example.org\r\nSubject: Hello\r\n\r\nHi Bob.\r\n"
	res, err := c.Send(ctx, &smtp.Envelope{From: "ada@example.com", To: []string{"bob@example.org"}},
		strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("server replied", res.Reply.Code)
	if err := c.Quit(ctx); err != nil {
		log.Fatal(err)
	}
	m := srv.Messages()[0]
	fmt.Println(m.From, m.To, strings.Contains(string(m.Data), "Hi Bob."))
	// Output:
	// server replied 250
	// ada@example.com [bob@example.org] true
}
