-- String functions and operators (length, case, substring, trim, pad, concat, LIKE, comparison, regexp, string_agg) over literals and the words table.

-- length, char_length, octet_length
SELECT length('hello'), char_length('héllo'), octet_length('héllo');
SELECT id, length(s) AS len, octet_length(s) AS bytes, char_length(v) AS v_len FROM words ORDER BY id;

-- upper, lower, initcap
SELECT upper('hello World'), lower('HeLLo'), upper('héllo');
SELECT initcap('hello wORLD foo-bar') AS title;
SELECT id, upper(s), lower(v), initcap(s) FROM words ORDER BY id;

-- substring, substr
SELECT substring('hello world' from 1 for 5) AS first5, substring('hello world' from 7) AS rest;
SELECT substr('hello', 2, 3), substr('hello', 3), substr('hello', 0, 3), substr('hello', 10);
SELECT id, substring(s from 2 for 3) FROM words ORDER BY id;
-- error: 22011
SELECT substr('hello', 2, -1);

-- position, strpos
SELECT position('lo' in 'hello'), strpos('hello', 'l'), position('z' in 'hello'), position('' in 'abc');
SELECT id, strpos(s, 'a') AS first_a, position('e' in v) AS first_e FROM words ORDER BY id;

-- replace
SELECT replace('banana', 'an', 'AN') AS r1, replace('aaa', 'a', '') AS r2, replace('abc', '', 'x') AS r3;
SELECT id, replace(s, ' ', '_') FROM words ORDER BY id;

-- trim, ltrim, rtrim, btrim
SELECT '[' || trim(' abc ') || ']', '[' || ltrim(' abc ') || ']', '[' || rtrim(' abc ') || ']';
SELECT btrim('xxabcxx', 'x') AS b, trim(both 'x' from 'xxabcxx') AS both_x, trim(leading 'x' from 'xxabcxx') AS lead_x, trim(trailing 'x' from 'xxabcxx') AS trail_x;
SELECT ltrim('zzyhello', 'yz'), rtrim('hello!!?', '!?');
SELECT id, '[' || trim(s) || ']' AS t, '[' || ltrim(s) || ']' AS l, '[' || rtrim(s) || ']' AS r FROM words ORDER BY id;

-- lpad, rpad
SELECT lpad('42', 5, '0'), rpad('ab', 5, '.'), lpad('hello', 3), rpad('hi', 4) || '|';
SELECT id, lpad(k, 3, '*') AS padded_k, rpad(v, 8, '-') AS padded_v FROM words ORDER BY id;

-- repeat, reverse, left, right
SELECT repeat('ab', 3), repeat('x', 0), repeat('x', -1);
SELECT left('hello', 2), right('hello', 2), left('hello', -2), right('hello', -2);
SELECT id, reverse(s), left(s, 3), right(v, 2) FROM words ORDER BY id;

-- split_part
SELECT split_part('a,b,c', ',', 2), split_part('a,b,c', ',', 4), split_part('a,b,c', ',', -1);
SELECT id, split_part(s, ' ', 1) AS first_word, split_part(s, ' ', 2) AS second_word FROM words ORDER BY id;
-- error: 22023
SELECT split_part('a,b,c', ',', 0);

-- concat, concat_ws, ||
SELECT concat('a', NULL, 'b', 1, true);
SELECT concat_ws('-', 'a', NULL, 'b') AS dashed, concat_ws(',', 1, 2.5, 'x') AS mixed;
SELECT 'abc' || 'def', 'abc' || NULL, 'n=' || 42;
SELECT id, s || '/' || v AS joined, concat(s, '/', v) AS concatenated, concat_ws('/', s, v, k) AS ws FROM words ORDER BY id;

-- starts_with
SELECT starts_with('hello', 'he'), starts_with('hello', 'lo');
SELECT id FROM words WHERE starts_with(s, 'a') ORDER BY id;

-- md5
SELECT md5('hello') AS h, md5('') AS empty_hash;
SELECT id, md5(s) FROM words ORDER BY id;

-- ascii, chr
SELECT ascii('A'), ascii('abc'), ascii(''), ascii('é');
SELECT chr(65) AS a, chr(233) AS e_acute, chr(8364) AS euro;
SELECT id, ascii(s) FROM words ORDER BY id;
-- error: 54000
SELECT chr(0);
-- error: 22023
SELECT chr(-1);

-- LIKE, ILIKE, NOT LIKE, ESCAPE
SELECT 'hello' LIKE 'he%', 'hello' LIKE 'h_llo', 'hello' LIKE 'H%', 'hello' NOT LIKE '%z%';
SELECT 'Hello' ILIKE 'h%' AS i1, 'HELLO' ILIKE '%ll_' AS i2, 'ab' LIKE '%' AS any_text, '' LIKE '_' AS one_char;
SELECT id, s FROM words WHERE s LIKE '%a%' ORDER BY id;
SELECT id, s FROM words WHERE s NOT LIKE 'a%' ORDER BY id;
SELECT id, v FROM words WHERE v ILIKE 'a%' ORDER BY id;
SELECT id, v FROM words WHERE v NOT ILIKE '%a%' ORDER BY id;
SELECT id FROM words WHERE s LIKE 'a\_b%' ORDER BY id;
SELECT id FROM words WHERE s LIKE '%!%%' ESCAPE '!' ORDER BY id;
SELECT 'a_b' LIKE 'a#_b' ESCAPE '#', 'axb' LIKE 'a#_b' ESCAPE '#';
SELECT id, s LIKE '_____' AS five_chars, s LIKE '%o%o%' AS two_o FROM words ORDER BY id;
-- error: 22025
SELECT 'abc' LIKE 'ab\';

-- comparison and ordering (C.UTF-8 collation)
SELECT 'apple' < 'banana', 'Apple' < 'apple', 'Zebra' < 'apple', 'abc' = 'abc', 'a' < 'ab';
SELECT id, s FROM words ORDER BY s, id;
SELECT id, v FROM words ORDER BY v DESC, id;
SELECT id, s FROM words ORDER BY s NULLS FIRST, id;
SELECT id, s FROM words WHERE s > 'b' ORDER BY id;
SELECT id, s FROM words WHERE s BETWEEN 'a' AND 'c' ORDER BY id;
SELECT min(s), max(s), min(v), max(v) FROM words;
SELECT id, s = v AS same, lower(s) = lower(v) AS same_ci FROM words ORDER BY id;
SELECT k, count(*) AS n FROM words GROUP BY k ORDER BY k;

-- regexp_replace, regexp_match
SELECT regexp_replace('hello world', 'o', '0'), regexp_replace('hello world', 'o', '0', 'g');
SELECT regexp_match('foo123bar', '[0-9]+'), regexp_match('foobar', '[0-9]+');
SELECT regexp_match('2022-01-23', '(\d+)-(\d+)-(\d+)') AS parts;
SELECT id, regexp_replace(s, '[aeiou]', '*', 'g') AS masked FROM words ORDER BY id;
SELECT id FROM words WHERE s ~ '^[a-z]+$' ORDER BY id;
-- error: 2201B
SELECT regexp_replace('abc', '(', 'x');

-- string_agg
SELECT string_agg(s, ',' ORDER BY id) FROM words;
SELECT string_agg(v, '|' ORDER BY v) AS all_v FROM words;
SELECT k, string_agg(s, ';' ORDER BY s) AS members FROM words GROUP BY k ORDER BY k;
SELECT string_agg(DISTINCT k, ',' ORDER BY k) FROM words;

-- to_hex
SELECT to_hex(255), to_hex(0), to_hex(-1), to_hex(9223372036854775807);
SELECT id, to_hex(id * 1000) AS hex FROM words ORDER BY id;

-- casts from text
-- error: 22P02
SELECT 'abc'::int;
