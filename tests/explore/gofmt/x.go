package x

func  F( a int )int{ return a+1 }
