"""Which guard applies to a test: ``escapes.choose``, for every combination the run can give."""

from django.test import SimpleTestCase

from arunner.guards.threadscope import Choice, choose


class Plain:
    pass


class NamesRoute:
    arunner_db_threads = "route"


class NamesStrict:
    arunner_db_threads = "strict"


class Misspelt:
    arunner_db_threads = "routed"


class Choose(SimpleTestCase):
    def test_a_test_without_a_transaction_is_open_whatever_it_asks(self):
        for test_class in (Plain, NamesRoute, NamesStrict, Misspelt):
            for compat in (False, True):
                self.assertEqual(choose(test_class, False, "strict", compat), ("open", None, False))

    def test_a_test_with_a_transaction_follows_the_run_then_its_class(self):
        self.assertEqual(choose(Plain, True, "strict"), ("strict", None, True))
        self.assertEqual(choose(Plain, True, "route"), ("route", None, True))
        self.assertEqual(choose(NamesRoute, True, "strict"), ("route", None, True))
        self.assertEqual(choose(NamesStrict, True, "route"), ("strict", None, True))

    def test_compat_turns_the_runs_strict_mode_off_and_nothing_is_at_stake(self):
        self.assertEqual(choose(Plain, True, "strict", True), ("open", None, False))
        self.assertEqual(choose(Plain, True, "route", True), ("route", None, False))
        self.assertEqual(choose(NamesStrict, True, "strict", True), ("strict", None, False))

    def test_a_misspelt_attribute_is_reported_and_the_runs_mode_applies(self):
        mode, problem, _ = choose(Misspelt, True, "strict", True)
        self.assertEqual(mode, "open")
        self.assertIn("'routed' is not one of strict, route", problem)
        self.assertIn("off under --compat", problem)
        self.assertIsInstance(choose(Misspelt, True, "route"), Choice)
        self.assertEqual(choose(Misspelt, True, "route").mode, "route")
