//go:build !mailshot_nojournal

package main

// withoutJournal is false in every ordinary build: send always journals.
// See journal_off.go.
const withoutJournal = false
