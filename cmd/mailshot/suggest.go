package main

import "strings"

// suggest returns the candidate closest to what a person typed, for a
// "did you mean" line, or "" when none is close enough to be a typo of it:
// within one edit for short words, two for longer ones, where swapping two
// neighbouring letters counts as one edit. A candidate that what was typed
// abbreviates (--templ for --template) counts as close. Ties go to the
// first candidate.
func suggest(typed string, candidates []string) string {
	typed = strings.ToLower(typed)
	if typed == "" {
		return ""
	}
	limit := 1
	if len(typed) >= 5 {
		limit = 2
	}
	best, bestDist := "", limit+1
	for _, c := range candidates {
		d := editDistance(typed, strings.ToLower(c))
		if d > 0 && len(typed) >= 3 && strings.HasPrefix(strings.ToLower(c), typed) {
			d = 1 // an abbreviation: as good as one typo
		}
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// the insertions, deletions, substitutions and transpositions of adjacent
// bytes that turn a into b, no substring edited twice.
func editDistance(a, b string) int {
	// Three rows of the dynamic programming table: two back, one back, this.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
