// A program calling C through cgo, for the analysis test: cmd/cgo wraps C.twice in the Go
// function main._Cfunc_twice, marked //go:cgo_unsafe_args, which the compiler pins to ABI0.
package main

/*
static int twice(int x) { return 2 * x; }
*/
import "C"

import "fmt"

func main() { fmt.Println(C.twice(21)) }
