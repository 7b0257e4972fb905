rchar: 1720820
wchar: 4188
syscr: 689
syscw: 38
read_bytes: 774144
write_bytes: 32768
cancelled_write_bytes: 0
