package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtp"
)

// openJournal finds this campaign's journal (--journal, or the default
// beside the data file), refuses one that states another campaign or is
// not a journal at all, and opens it. A dry run opens only a journal that
// exists: it journals nothing.
func (r *sendRun) openJournal() error {
	f := &r.f
	c, err := newCampaign(&f.in)
	if err != nil {
		return err
	}
	r.campaign = c
	if f.journal == "" {
		f.journal = c.defaultJournal()
		legacy := f.in.legacyJournal()
		if fileExists(legacy) && !fileExists(f.journal) {
			return withHint(fmt.Errorf("%s, a journal an earlier mailshot kept in this directory, has the same template and data names; mailshot cannot tell whether it is this campaign", legacy),
				"for a new campaign, move that file away; only if it is this same campaign, add --journal %s", shellQuote(legacy))
		}
	}
	if err := notAnInput(f.journal, &f.in); err != nil {
		return err
	}
	exists := fileExists(f.journal)
	if withoutJournal || f.dryRun && !exists {
		return nil
	}
	j, err := journal.Open(f.journal)
	switch {
	case errors.Is(err, journal.ErrNotJournal):
		return withHint(fmt.Errorf("%s is not a mailshot journal; it was left as it is", f.journal),
			"name a new file with --journal, or leave --journal out for the campaign's own")
	case errors.Is(err, os.ErrNotExist):
		return withHint(fmt.Errorf("journal %s: the directory %s does not exist", f.journal, filepath.Dir(f.journal)),
			"create the directory, or name a journal in one that exists")
	case errors.Is(err, os.ErrPermission):
		return withHint(fmt.Errorf("journal %s: permission denied", f.journal),
			"name a journal in a directory you may write with --journal FILE")
	case err != nil:
		return err
	}
	r.journal, r.created = j, !exists
	if r.earlier, err = readCampaign(j.Campaign()); err != nil {
		return err
	}
	if r.earlier != nil {
		if err := c.match(r.earlier, f.journal, f.otherData); err != nil {
			return err
		}
		if r.earlier.Data != c.Data {
			fmt.Fprintf(r.stderr, "sending %s under the campaign of %s (its data: %s)\n", f.in.data, f.journal, r.earlier.Data)
		}
	}
	fmt.Fprintf(r.stderr, "journal: %s\n", f.journal)
	return nil
}

// templateChanged reports whether the template's files differ from those
// the journal's campaign started with.
func (r *sendRun) templateChanged() bool {
	return r.earlier != nil && r.campaign != nil && r.earlier.TemplateSum != r.campaign.TemplateSum
}

// startCampaign writes the campaign header into a journal that has none
// and nothing else yet, before the first record.
func (r *sendRun) startCampaign(ctx context.Context) error {
	j := r.journal
	if j == nil || j.Campaign() != nil || j.Totals().All() > 0 {
		return nil
	}
	c, err := j.SetCampaign(r.campaign)
	if err == nil {
		err = c.Wait(ctx)
	}
	return err
}

// closeJournal closes the journal, and removes its file when this run
// created it and recorded nobody in it (it stopped before sending).
func (r *sendRun) closeJournal() {
	j := r.journal
	if j == nil {
		return
	}
	empty := j.Totals().All() == 0 // a header alone says nothing was sent
	j.Close()
	if r.created && empty {
		os.Remove(j.Path())
	}
}

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// notAnInput refuses an output path that is one of the command's inputs:
// the data file, or a file under the template or attachments directory,
// compared by file identity through symbolic links and "..".
func notAnInput(out string, in *inputFlags) error {
	if sameFile(out, in.data) {
		return usageError{fmt.Errorf("%s is the data file; an output must be another file", out)}
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return nil
	}
	dir := filepath.Dir(abs)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	for _, inDir := range []string{in.template, in.attachments} {
		if inDir == "" {
			continue
		}
		real, err := canonicalPath(inDir)
		if err != nil {
			continue
		}
		if dir == real || strings.HasPrefix(dir, real+string(filepath.Separator)) {
			return usageError{fmt.Errorf("%s is inside the directory %s, an input; write it elsewhere", out, inDir)}
		}
	}
	return nil
}

// roomFrom returns when a rolling 24-hour quota can be expected to take
// more: 24 hours after the oldest recipient the journal has as sent within
// the last 24 hours, or the zero time when it has none.
func roomFrom(j *journal.File, now time.Time) time.Time {
	if j == nil {
		return time.Time{}
	}
	sent := j.SentSince(now.Add(-24 * time.Hour))
	if len(sent) == 0 {
		return time.Time{}
	}
	return sent[0].Time.Add(24 * time.Hour)
}

// roomToday stops a run with no room left under --daily-limit before it
// asks for a password or connects, with the line that says when the next
// slot opens. With --wait, or a dry run, it goes on.
func (r *sendRun) roomToday() error {
	limit := r.f.dailyLimit
	if limit == 0 || r.f.wait || r.f.dryRun || r.journal == nil {
		return nil
	}
	used := sentInDay(r.journal)
	if used < limit {
		return nil
	}
	fmt.Fprintf(r.stderr, "mailshot: stopped at --daily-limit: %d of %d recipients sent in the last 24 hours; the next slot opens at %s; nothing was sent\n",
		used, limit, timeOfDay(roomFrom(r.journal, time.Now())))
	return statusError{status: exitStopped, msg: "daily limit"}
}

// sentInDay counts the recipients the journal has as sent in the last 24
// hours (none without a journal).
func sentInDay(j *journal.File) int {
	if j == nil {
		return 0
	}
	n := 0
	for _, s := range j.SentSince(time.Now().Add(-24 * time.Hour)) {
		n += s.Recipients
	}
	return n
}

// checkHelo refuses an EHLO name the server would refuse: a domain name or
// an address literal ([192.0.2.1]).
func checkHelo(name string) error {
	if err := smtp.CheckHelloName(name); err != nil {
		return fmt.Errorf("--helo %q: %w", name, err)
	}
	return nil
}
