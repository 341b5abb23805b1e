# SPDX-License-Identifier: GPL-2.0-or-later
# cmake -DIN=XML -DOUT=XML -P strip_properties.cmake: the interface without its <property>
# elements, for the adaptor (the daemon registers its properties from core/status.h's table).
file(READ ${IN} xml)
string(REGEX REPLACE "<property[^>]*/>" "" xml "${xml}")
string(REGEX REPLACE "<property[^>]*>[^<]*(<annotation[^>]*/>[^<]*)*</property>" "" xml "${xml}")
file(WRITE ${OUT} "${xml}")
