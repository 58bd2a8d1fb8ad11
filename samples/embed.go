// Package samples holds sample recipient data, and embeds the CSV so that
// mailshot init can write it into a starter kit.
package samples

import _ "embed"

// RecipientsCSV is recipients.csv: twelve people at example domains, with
// non-ASCII names, a name holding <, & and quotes, and an emoji.
//
//go:embed recipients.csv
var RecipientsCSV []byte
