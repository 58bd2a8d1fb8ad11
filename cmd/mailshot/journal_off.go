//go:build mailshot_nojournal

package main

// withoutJournal, set by building with -tags mailshot_nojournal, makes send
// keep no journal at all: a build for measuring what the journal costs
// (.ci/bench), never for sending. Such a run cannot be resumed.
const withoutJournal = true
