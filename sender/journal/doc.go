// Package journal is the durable record of a batch of mail: which
// recipients of which message were sent, failed, deferred or are unknown,
// so that a stopped, crashed or failed run is resumed with nobody mailed
// twice.
//
// A journal is a JSON Lines file, one [Record] per line:
//
//	{"time":"2025-03-01T10:00:00.1Z","row":2,"key":"a@example.com","recipients":["a@example.com"],"status":"intent","attempts":1,"message_id":"<1@example.com>"}
//	{"time":"2025-03-01T10:00:00.2Z","row":2,"key":"a@example.com","recipients":["a@example.com"],"status":"sent","code":250,"enhanced":"2.0.0","reply":"Ok: queued as 1","attempts":1,"message_id":"<1@example.com>","fingerprint":"…"}
//
// The latest record of a key and recipient is its state; a resumed run
// appends to the same file. [Open] reads it into a compact index that
// [File.Pending] consults (past some 65,000 recipients, mostly in an
// unlinked temporary file beside the journal, so that a run's memory does
// not grow with the journal); [File.Add] appends a record and returns a
// [Commit] to wait on for it to be durable. Records added meanwhile by
// other goroutines share one synchronous write (group commit). After a
// crash, even SIGKILL, every record whose Commit was done is in the file; a
// torn last write is cut off on the next Open.
//
// [ReadReport] summarises a journal for people and scripts, without
// locking it, so it may be read while a run writes it.
//
// The journal records what a sender tells it; the write-ahead rule (an
// intent durable before a message's body leaves) is the sender's, which
// waits on the intent's Commit.
package journal
