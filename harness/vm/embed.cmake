# cmake -DIN=file -DOUT=header -DNAME=symbol -P embed.cmake: a file's bytes as a C array.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n  " bytes "${bytes}")
file(WRITE ${OUT} "// Generated from ${IN} by harness/vm/embed.cmake.\n#pragma once\nstatic const unsigned char ${NAME}[] = {\n  ${bytes}\n};\n")
