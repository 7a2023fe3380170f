# embed.cmake - writes a C file that holds the bytes of one file as a NUL-terminated array.
# usage: cmake -DIN=<file> -DOUT=<file.c> -DSYM=<name> -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE "${OUT}" "/* Generated from ${IN} by cmake/embed.cmake: do not edit. */\n#include <stddef.h>\n\nextern const char ${SYM}[];\nextern const size_t ${SYM}_len;\nconst char ${SYM}[] = {\n${body}0x00};\nconst size_t ${SYM}_len = ${len};\n")
