// Package sender delivers complete messages through a pool of reused,
// authenticated SMTP connections: it limits the rate across the whole pool
// and slows down when the server throttles, retries temporary failures with
// exponential backoff, and records every outcome in a durable write-ahead
// journal so that an interrupted or crashed run can be resumed with nobody
// mailed twice.
//
// The package knows nothing about spreadsheets or templates: it sends the
// [Message] values it is handed. It owns the guarantee that nobody is
// mailed twice: [Pool.Run] takes the whole batch, as a sequence, and the
// batch's [journal.File], leaves out every recipient the journal already
// settles, and records everything it does. A batch run again after a stop
// or a crash is resumed by running it again:
//
//	j, err := journal.Open("mailing.journal")
//	...
//	defer j.Close()
//	pool, err := sender.NewPool(sender.Config{Endpoint: ep, Journal: j, ...})
//	...
//	summary, err := pool.Run(ctx, messages) // messages: iter.Seq2[*sender.Message, error]
//
// # Connections
//
// Each connection is dialled, secured (implicit TLS for smtps, STARTTLS
// whenever the server offers it) and authenticated once, then carries up to
// Config.MaxPerConn messages during at most Config.MaxConnAge before a QUIT
// and a fresh one. When the server offers PIPELINING and another message
// is ready, its MAIL, RCPT and DATA go out with the final dot of the one
// before (see smtp.Envelope.Then): one write and one round trip per
// message. A connection idle longer than Config.IdleProbe is checked with
// NOOP before use. While no connection is up, only one is
// attempted at a time, so a wrong password costs one AUTH, not one per
// connection.
//
// # Relays
//
// A pool may send through several relays (Config.Relays), each with its
// own endpoint, credentials, connections, rate and rolling daily limit
// ([Relay]). Each message goes through whichever relay has a free
// connection and a rate token first; a throttling reply slows only the
// relay that sent it. A relay that refuses the credentials or TLS, or
// answers with a sender-quota reply, leaves the rotation for the rest of
// the run; one that stays unreachable through the retries, or reaches its
// daily limit, leaves it until a backoff is over or room opens. The
// message that met the relay's refusal is not charged a retry and goes
// through another relay. A [RelayProgress] hears of each change. Only when
// every relay is out does the run stop, with the reason one relay would
// have stopped it for. The journal names the relay of every intent and
// outcome (journal.Record.Relay).
//
// # Outcomes
//
// Every recipient ends a run in one of four states (see [Status]):
//
//   - sent: 250 after the final dot;
//   - failed: a permanent (5yz) reply to MAIL, RCPT, DATA or the message,
//     with the server's full reply; never retried within a run;
//   - deferred: temporary (4yz) replies or lost connections before the
//     final dot outlasted Config.Retries, or the run stopped first;
//   - unknown: the connection was lost after the final dot, before the
//     reply, so the server may have taken the message.
//
// A 452 "too many recipients" sends the remaining recipients in another
// transaction. A 421 or a reset at the first command of a reused
// connection only means the server dropped the idle connection: the pool
// reconnects without charging the message a retry. Throttling replies (421,
// 450, 451, 452 or 454 with a 4.7.x enhanced code or text about rates or
// limits) halve the pool's rate and pause it; the rate then recovers
// gradually, and [Progress] hears of both.
//
// # Journal
//
// With a [journal.File] in Config.Journal, an intent record is added before
// each transaction; its body does not leave before the intent is durable.
// The intent of the transaction pipelined next on a connection is added
// while the one before is in flight, so that its write overlaps that
// transaction: when it is durable, so is the outcome of the transaction
// before the one in flight, added before it. Outcomes are added as they
// come and told to [Progress] only once on disk, from a goroutine of their
// own. After a crash, even SIGKILL, a recipient whose latest record is an
// intent is unknown; there are at most two such transactions per
// connection.
package sender
