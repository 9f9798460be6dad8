module deadwords

go 1.19
