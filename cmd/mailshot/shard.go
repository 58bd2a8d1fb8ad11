package main

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// shard is --shard K/N: the part of a batch one machine sends. Messages are
// assigned by a hash of their journal key, so the partition does not
// depend on the rows' order and N machines with K = 1..N cover every
// message exactly once. The zero shard is the whole batch.
type shard struct{ k, n int }

func (s *shard) String() string {
	if s.n == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.k, s.n)
}

// Set parses K/N, 1 <= K <= N.
func (s *shard) Set(v string) error {
	ks, ns, ok := strings.Cut(v, "/")
	k, err1 := strconv.Atoi(strings.TrimSpace(ks))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n {
		return fmt.Errorf("want K/N with 1 <= K <= N, e.g. 2/3")
	}
	s.k, s.n = k, n
	return nil
}

// has reports whether the message keyed key is in the shard.
func (s shard) has(key string) bool {
	if s.n <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64()%uint64(s.n)) == s.k-1
}
