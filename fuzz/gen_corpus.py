#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora under fuzz/corpus/<target>/ (valid and invalid
inputs for each driver). Re-running it rewrites the seed-* files and leaves
files the fuzzers or people added (crash-*, found inputs) alone."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode('utf-8')
    with open(os.path.join(d, 'seed-' + name), 'wb') as f:
        f.write(data)


# http_form: forms, escapes, header params.
put('http_form', 'simple', 'a=1&b=two+words&c=%C3%A9')
put('http_form', 'empty-pieces', '&&a&=&b=&&')
put('http_form', 'bad-escape', 'a=%G1&b=%')
put('http_form', 'nul', 'a=%00')
put('http_form', 'bad-utf8', 'x=%C3%28')
put('http_form', 'many', '&'.join('k%d=v' % i for i in range(70)))
put('http_form', 'param', 'boundary\nmultipart/form-data; boundary="a\\"b c"; charset=utf-8')
put('http_form', 'media', 'text/plain\n  TEXT/Plain ; charset=x')
put('http_form', 'param-bad', 'name\nform-data; =x; name="unterminated')

# http_cookie: byte 0 = flags, then name\nvalue\npath\nsamesite; also a Cookie header.
put('http_cookie', 'header', 'sid=abc; theme="dark"; lang=en')
put('http_cookie', 'header-bad', 'novalue; =x; a b=c; ok=1;;  ; q=\x01')
put('http_cookie', 'format-basic', b'\x03sid\nabc123\n/\nLax')
put('http_cookie', 'format-none', b'\x02id\nv\n/app\nNone')
put('http_cookie', 'format-host', b'\x06__Host-s\nx\n/\nstrict')
put('http_cookie', 'format-secure-bad', b'\x00__Secure-a\nb\n/\n')
put('http_cookie', 'format-bad-value', b'\x10a\nb c;d\n/\n')
put('http_cookie', 'format-tiny', b'\x4fname\nverylongvaluevalue\n/some/path\nLax')

# http_multipart: first line is the Content-Type, the rest the body.
CT = 'multipart/form-data; boundary=XyZ\n'
put('http_multipart', 'two-parts', CT +
    '--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nhello\r\n'
    '--XyZ\r\nContent-Disposition: form-data; name="f"; filename="C:\\dir\\x.txt"\r\n'
    'Content-Type: text/plain\r\n\r\nfile data\r\n--XyZ--\r\n')
put('http_multipart', 'preamble', CT + 'preamble\r\n--XyZ\r\n'
    'Content-Disposition: form-data; name="e"; filename=""\r\n\r\n\r\n--XyZ--epilogue')
put('http_multipart', 'no-close', CT + '--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nx')
put('http_multipart', 'no-name', CT + '--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--')
put('http_multipart', 'bad-ct', 'text/plain\n--XyZ--')
put('http_multipart', 'quoted-boundary', 'multipart/form-data; boundary="a b"\r\n'
    '--a b\r\nContent-Disposition: form-data; name=n\r\n\r\n1\r\n--a b--')
put('http_multipart', 'many-parts', CT + ''.join(
    '--XyZ\r\nContent-Disposition: form-data; name="p%d"\r\n\r\n%d\r\n' % (i, i)
    for i in range(6)) + '--XyZ--\r\n')


# ws: byte 0 mode, byte 1 action, then client frames (masked).
def frame(op, payload, fin=True, mask=b'\x11\x22\x33\x44', masked=True, rsv=0):
    if isinstance(payload, str):
        payload = payload.encode('utf-8')
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    mbit = 0x80 if masked else 0
    if n < 126:
        h = bytes([b0, mbit | n])
    elif n < 65536:
        h = bytes([b0, mbit | 126]) + struct.pack('>H', n)
    else:
        h = bytes([b0, mbit | 127]) + struct.pack('>Q', n)
    if not masked:
        return h + payload
    return h + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


put('ws', 'text', b'\x00\x00' + frame(1, 'hello'))
put('ws', 'binary-chunked', b'\x03\x00' + frame(2, bytes(range(200))))
put('ws', 'fragments-ping', b'\x05\x55' + frame(1, 'frag', fin=False) + frame(9, 'p') +
    frame(0, 'ment') + frame(1, 'é'))
put('ws', 'close', b'\x00\x00' + frame(1, 'x') + frame(8, struct.pack('>H', 1000) + b'bye'))
put('ws', 'close-by-us', b'\x00\xaa' + frame(2, struct.pack('>H', 4000) + b'reason'))
put('ws', 'unmasked', b'\x00\x00' + frame(1, 'x', masked=False))
put('ws', 'bad-utf8', b'\x01\x00' + frame(1, b'\xc3\x28'))
put('ws', 'too-big', b'\x00\x00' + frame(2, b'A' * 5000))
put('ws', 'rsv-bad-close', b'\x00\x00' + frame(1, 'x', rsv=0x40) + frame(8, b'\x03'))
put('ws', 'send-fails', b'\x40\x55' + frame(1, 'a') + frame(1, 'b') + frame(9, '') + frame(1, 'c'))
put('ws', 'free-in-close', b'\x80\xff' + frame(1, 'a') + frame(8, b''))

# utf8_codec: text, base64, base64url, hex.
put('utf8_codec', 'ascii', 'hello world\n')
put('utf8_codec', 'utf8', 'héllo – 𝄞 ✓')
put('utf8_codec', 'overlong', b'\xc0\xaf\xe0\x80\xaf')
put('utf8_codec', 'surrogate', b'\xed\xa0\x80')
put('utf8_codec', 'controls', b'a\x01b\x7f\t\r\n')
put('utf8_codec', 'b64', 'aGVsbG8gd29ybGQ=')
put('utf8_codec', 'b64-bad-pad', 'aGVsbG8=d29y')
put('utf8_codec', 'b64url', 'aGVsbG8_d29-bGQ')
put('utf8_codec', 'hex', '00ff10AbCd')
put('utf8_codec', 'hex-odd', 'abc')
put('utf8_codec', 'binary', bytes(range(256)))

# mustache: template, then NUL-separated partials p0, p1...
put('mustache', 'vars', 'Hi {{name}}! {{{html}}} {{&html}} {{html}} {{obj.a.b}} {{n}} {{pi}}')
put('mustache', 'sections', '{{#list}}[{{.}}{{name}}]{{/list}}{{^empty}}none{{/empty}}'
    '{{#t}}yes{{/t}}{{#f}}no{{/f}}{{#obj}}{{name}}{{/obj}}')
put('mustache', 'comment-delims', '{{! comment }}{{=<% %>=}}<% name %><%={{ }}=%>{{name}}')
put('mustache', 'partials', b'a{{>p0}}b{{>p1}}c{{>missing}}\x00[{{name}}]\x00{{#list}}{{>p0}}{{/list}}')
put('mustache', 'self-recursive', '{{#list}}{{>self}}{{/list}}')
put('mustache', 'inheritance', b'{{<p0}}{{$title}}T{{/title}}{{/p0}}\x00<h1>{{$title}}default{{/title}}</h1>')
put('mustache', 'unclosed', '{{#a}}{{#b}}x{{/a}}')
put('mustache', 'bad-tag', '{{ name }}{{#}}{{/}}{{=x=}}{{')
put('mustache', 'standalone', 'line\n  {{#list}}\n  item\n  {{/list}}\n{{! c }}\nend\r\n')

# conf: tandem.ini text.
put('conf', 'empty', '')
put('conf', 'typical', '[server]\ndomain = example.org\nhttp_port = 8080\n'
    'base_url = https://example.org\n\n[http]\nmax_body_bytes = 1048576\n'
    '[accounts]\nsignup = invite\n[log]\nlevel = debug\naccess = false\n')
put('conf', 'comments', '# comment\n; other\n[server]\n  threads = 4 ; inline\n')
put('conf', 'unknown-key', '[server]\nnope = 1\n')
put('conf', 'unknown-section', '[nope]\n')
put('conf', 'dup-key', '[server]\nthreads = 2\nthreads = 3\n')
put('conf', 'bad-int', '[server]\nhttp_port = 0x50\n[http]\nidle_timeout = 99999999999999999999\n')
put('conf', 'bad-enum', '[accounts]\nsignup = maybe\n')
put('conf', 'no-section', 'domain = x\n')
put('conf', 'long-line', '[server]\ndomain = ' + 'a' * 5000 + '\n')
