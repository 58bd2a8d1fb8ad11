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
	if enhanced == "5.4.5" || enhanced == "4.4.5" {
		return true
	}
	if enhanced == "5.2.2" || enhanced == "4.2.2" {
		return false // the recipient's mailbox is full
	}
	t := strings.ToLower(text)
	if strings.Contains(t, "submissionquotaexceeded") {
		return true
	}
	for _, w := range []string{"mailbox full", "mailbox is full", "over quota", "overquota", "user quota", "storage"} {
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

// senderQuota returns the reply of err or rr when it is a sender-quota
// reply, or nil.
func senderQuota(se *smtp.Error) bool {
	return se != nil && isSenderQuota(se.Code, se.Enhanced, se.Text)
}
