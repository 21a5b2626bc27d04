"""What a PostgreSQL dump holds, read from pg_restore --list: medic's own objects, anyone else's, and
a session prologue of the dump's own."""

from __future__ import annotations

import pytest

from workers.maintenance.backup.pglisting import MAX_NAMED, entries, foreign_problem, medic_objects, prologue_problem

MEDIC = """;
; Archive created at 2026-12-06 23:45:24 UTC
; Selected TOC Entries:
;
214; 1259 206508 TABLE public alembic_version postgres
234; 1259 206659 TABLE public alerts postgres
233; 1259 206658 SEQUENCE public alerts_id_seq postgres
3527; 0 0 SEQUENCE OWNED BY public alerts_id_seq postgres
3261; 2604 206662 DEFAULT public alerts id postgres
3512; 0 206659 TABLE DATA public alerts postgres
3540; 0 0 SEQUENCE SET public alerts_id_seq postgres
3320; 2606 206666 CONSTRAINT public alerts alerts_pkey postgres
3321; 1259 206667 INDEX public ix_alerts_opened postgres
3345; 2606 206614 FK CONSTRAINT public attempts attempts_execution_id_fkey postgres
3528; 0 0 ACL public TABLE alerts postgres
3530; 0 0 ACL public SEQUENCE alerts_id_seq postgres
3527; 0 0 COMMENT public TABLE alerts postgres
3528; 0 0 COMMENT public COLUMN alerts.id postgres
3558; 0 0 COMMENT public CONSTRAINT alerts_pkey ON alerts postgres
"""


def test_medics_own_objects_are_medics():
    found = entries(MEDIC)
    assert len(found) == 15 and found[0].line == "214; 1259 206508 TABLE public alembic_version postgres"
    assert (found[5].kind, found[5].schema, found[5].tag) == ("TABLE DATA", "public", "alerts")
    assert foreign_problem(found, medic_objects()) is None


@pytest.mark.parametrize("line", [
    "300; 1259 1 TABLE public orders app",
    "301; 0 1 TABLE DATA public orders app",
    "302; 1255 1 FUNCTION public medic_pwned() postgres",
    "303; 2606 1 CONSTRAINT public orders orders_pkey app",
    "304; 1259 1 INDEX public ix_orders_paid app",
    "305; 1259 1 SEQUENCE public orders_id_seq app",
    "306; 2620 1 TRIGGER public alerts audit_alerts postgres",
    "307; 2615 1 SCHEMA - billing postgres",
    "308; 0 0 ACL public TABLE orders app",
    "309; 0 0 COMMENT public COLUMN orders.id app",
    "310; 2604 1 DEFAULT public orders id app",
    "311; 2606 1 CONSTRAINT public alerts a b; DROP TABLE orders postgres",
])
def test_anything_else_is_named(line):
    problem = foreign_problem(entries(MEDIC + line + "\n"), medic_objects())
    assert problem is not None and line.split(" ", 3)[3].rpartition(" ")[0] in problem


def test_many_foreign_objects_are_counted_not_all_named():
    lines = "".join(f"{n}; 1259 1 TABLE public app_{n:03} app\n" for n in range(MAX_NAMED + 5))
    assert "and 5 more" in foreign_problem(entries(lines), medic_objects())


PROLOGUE = """--
-- PostgreSQL database dump
--

\\restrict 4chZ8bVrs692

SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;

\\unrestrict 4chZ8bVrs692
"""


def test_the_prologue_pg_restore_writes_passes():
    assert prologue_problem(PROLOGUE) is None


@pytest.mark.parametrize("odd", [
    "DROP TABLE orders;",
    "SELECT pg_catalog.set_config('search_path', '', false); DROP TABLE orders;",
    "SET search_path = public; CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
    "\\! rm -rf /",
])
def test_a_prologue_of_the_dumps_own_is_named(odd):
    problem = prologue_problem(PROLOGUE.replace("SET xmloption = content;", odd))
    assert problem is not None and repr(odd[:80]) in problem
