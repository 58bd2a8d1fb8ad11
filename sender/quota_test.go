package sender

import "testing"

func TestIsSenderQuota(t *testing.T) {
	for _, tt := range []struct {
		code     int
		enhanced string
		text     string
		want     bool
	}{
		{550, "5.4.5", "Daily user sending quota exceeded. For more information, go to https://support.google.com/mail/?p=BlockedMessage", true},
		{421, "4.4.5", "Daily sending limit exceeded", true},
		{554, "5.2.0", "STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception", true},
		{454, "", "Throttling failure: Daily message quota exceeded.", true},
		{451, "4.7.1", "Daily sending limit reached for this account", true},
		{550, "5.7.1", "You have exceeded your daily sending quota", true},
		// A recipient's full mailbox stays that recipient's failure.
		{552, "5.2.2", "Mailbox full: user quota exceeded", false},
		{452, "4.2.2", "The email account that you tried to reach is over quota", false},
		{452, "", "Mailbox over quota limit exceeded", false},
		{550, "5.1.1", "No such user", false},
		{451, "4.7.1", "Rate limit exceeded, try again later", false},
		{250, "2.0.0", "Ok daily quota exceeded", false},
		{550, "5.2.1", "The recipient has exceeded their daily receiving limit", false},
		{452, "4.4.5", "Insufficient system resources", false},
		{421, "4.4.5", "Server busy, try again later", false},
		{550, "", "Mailbox full, daily sending limit reached", false},
	} {
		if got := isSenderQuota(tt.code, tt.enhanced, tt.text); got != tt.want {
			t.Errorf("isSenderQuota(%d %s %q) = %v, want %v", tt.code, tt.enhanced, tt.text, got, tt.want)
		}
	}
}
