package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/mailshot/mailshot/merge"
)

// dkimFlags are the flags of the commands that compose messages to send or
// show: send and preview sign with DKIM when given a key.
type dkimFlags struct {
	key, selector, domain string
}

func (f *dkimFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.key, "dkim-key", "", "sign every message with DKIM using the private key in `FILE` (PEM: RSA of 2048 bits or more, or Ed25519; mode 0600 or 0640)")
	fs.StringVar(&f.selector, "dkim-selector", "", "DKIM `SELECTOR`: the key's DNS record is SELECTOR._domainkey.DOMAIN")
	fs.StringVar(&f.domain, "dkim-domain", "", "DKIM signing `DOMAIN` (default: the From address's domain)")
}

// composer returns the Composer the flags ask for: one that signs, or nil
// for the default.
func (f *dkimFlags) composer(stderr io.Writer) (*merge.Composer, error) {
	if f.key == "" {
		if f.selector != "" || f.domain != "" {
			return nil, usageError{fmt.Errorf("--dkim-selector and --dkim-domain go with --dkim-key FILE")}
		}
		return nil, nil
	}
	if f.selector == "" {
		return nil, usageError{fmt.Errorf("--dkim-key needs --dkim-selector: the name of the key's DNS record, SELECTOR._domainkey.DOMAIN")}
	}
	s, err := merge.LoadDKIMSigner(f.key, f.selector, f.domain)
	if err != nil {
		return nil, err
	}
	return &merge.Composer{DKIM: s}, nil
}

// linter collects what harms delivery in a run's messages and its
// template, and says each problem once.
type linter struct {
	template []merge.Warning
	messages merge.Linter
}

// newLinter checks b's template files.
func newLinter(b *merge.Batch) *linter {
	l := &linter{}
	l.template, _ = b.Template.Lint() // an unreadable message.html fails the run elsewhere
	return l
}

// Add checks one row's message.
func (l *linter) Add(it *merge.Item) {
	if it.Err == nil && it.DuplicateOf == 0 && it.Message != nil {
		l.messages.Add(it.Message)
	}
}

// Print writes one "warning:" line per problem.
func (l *linter) Print(w io.Writer) {
	for _, ws := range [][]merge.Warning{l.template, l.messages.Warnings()} {
		for _, x := range ws {
			fmt.Fprintf(w, "warning: %s\n", x)
		}
	}
}
