package spec

import (
	"fmt"
	"strings"
)

// suggest returns the candidate closest to word if it is close enough to be a likely typo, or "". Case, '-'
// and '_' are ignored, so "max_surge" suggests "maxSurge" and "bluegreen" suggests "blue-green".
func suggest(word string, candidates []string) string {
	w := fold(word)
	best, bestDist := "", -1
	for _, c := range candidates {
		dist := distance(w, fold(c))
		if dist <= tolerance(len(c)) && dist < len(c) && (bestDist < 0 || dist < bestDist) {
			best, bestDist = c, dist
		}
	}
	return best
}

// didYouMean formats suggest's answer as a message suffix: ` (did you mean "x"?)` or "".
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// tolerance is how many edits still look like a typo of a word of length n: short words allow fewer, and
// suggest never offers a word that every character would have to change into.
func tolerance(n int) int {
	switch {
	case n <= 4:
		return 1
	case n <= 8:
		return 2
	default:
		return 3
	}
}

func fold(s string) string {
	return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(s))
}

// distance is the edit distance between a and b in runes, counting an insertion, a deletion, a substitution
// or a swap of two neighbours as one edit (optimal string alignment), since swaps are the commonest typo.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
