package sender

import (
	"strings"

	"github.com/mailshot/mailshot/sender/smtp"
)

// isSenderQuota reports whether a reply says the sender's account has
// reached its provider's sending quota: a limit on the sender, not a
// failure of the recipient or the message. The run stops there; what is
// left is sent once the quota allows.
//
//   - Gmail: 550 5.4.5 Daily user sending quota exceeded (and 4.4.5 on
//     some relays);
//   - Microsoft 365: 554 5.2.0 STOREDRV.Submission.Exception:
//     SubmissionQuotaExceededException;
//   - Amazon SES: 454 Throttling failure: Daily message quota exceeded;
//   - other relays: "daily ... quota/limit exceeded" in plain words.
//
// A recipient's full mailbox (552 5.2.2, 452 4.2.2, "mailbox full", "over
// quota") is not one: it concerns that recipient alone.
func isSenderQuota(code int, enhanced, text string) bool {
	if code < 400 || code > 599 {
		return false
	}
	t := strings.ToLower(text)
	if strings.Contains(t, "submissionquotaexceeded") {
		return true
	}
	if strings.HasPrefix(enhanced, "5.1.") || strings.HasPrefix(enhanced, "4.1.") ||
		strings.HasPrefix(enhanced, "5.2.") || strings.HasPrefix(enhanced, "4.2.") {
		return false // about the recipient's address or mailbox
	}
	if strings.Contains(t, "receiving") || strings.Contains(t, "recipient") {
		return false // the recipient's limit, not the sender's
	}
	if (enhanced == "5.4.5" || enhanced == "4.4.5") && (strings.Contains(t, "quota") || strings.Contains(t, "limit")) {
		// Gmail's quota reply; X.4.5 alone is congestion (RFC 3463).
		return true
	}
	if strings.Contains(t, "mailbox full") || strings.Contains(t, "mailbox is full") {
		return false
	}
	for _, w := range []string{"over quota", "overquota", "user quota", "storage"} {
		if strings.Contains(t, w) && !strings.Contains(t, "sending") {
			return false
		}
	}
	daily := strings.Contains(t, "daily") || strings.Contains(t, "24 hour") || strings.Contains(t, "per day")
	exceeded := strings.Contains(t, "exceeded") || strings.Contains(t, "reached")
	limit := strings.Contains(t, "quota") || strings.Contains(t, "limit")
	sending := strings.Contains(t, "sending") || strings.Contains(t, "message quota") || strings.Contains(t, "send limit")
	return exceeded && limit && (daily || sending)
}

// senderQuota reports whether se, when not nil, is a sender-quota reply.
func senderQuota(se *smtp.Error) bool {
	return se != nil && isSenderQuota(se.Code, se.Enhanced, se.Text)
}
