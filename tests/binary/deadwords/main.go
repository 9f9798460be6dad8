// Functions that read only len() of a string parameter, for the analysis test: Go 1.19-1.21's
// DWARF places such a string on the stack at its length word, 4 bytes past where it is on 386.
package main

import "fmt"

// Eleven words before s: FUNCDATA_ArgInfo's first 10 words do not reach it.
//
//go:noinline
func lenAfterTen(a, b, c, d, e, f, g, h, i, j, k int, s string) int {
	return len(s) + a + b + c + d + e + f + g + h + i + j + k
}

// s within ArgInfo's words: it lists exactly DWARF's parameters, so there is no blank.
//
//go:noinline
func lenFirst(s string, n int) int { return len(s) + n }

func main() { fmt.Println(lenAfterTen(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, "hello"), lenFirst("abc", 1)) }
