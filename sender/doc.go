// Package sender delivers complete messages through a pool of reused,
// authenticated SMTP connections: it limits the rate across the whole pool
// and slows down when the server throttles, retries temporary failures with
// exponential backoff, and records every outcome in a durable write-ahead
// journal so that an interrupted or crashed run can be resumed with nobody
// mailed twice.
//
// The package knows nothing about spreadsheets or templates: it sends the
// [Message] values it is handed. A typical caller opens the [Journal], asks
// it which recipients of each message are still [Journal.Pending], and feeds
// those messages to [Pool.Run]:
//
//	j, err := sender.OpenJournal("mailing.journal")
//	...
//	pool, err := sender.NewPool(sender.Config{Endpoint: ep, Journal: j, ...})
//	...
//	summary, err := pool.Run(ctx, messages)
//
// The journal is a JSON Lines file (one [Record] per line); [ReadReport]
// summarises it.
package sender
