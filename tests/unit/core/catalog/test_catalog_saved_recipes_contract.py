"""Recipes saved from the gallery's editor, versioned by name."""

from __future__ import annotations

from image_pipeline.core.catalog.roles import SavedRecipes

ROLES = (SavedRecipes,)


def test_saved_recipes_are_versioned_by_name(catalog):
    spec = {"name": "mine", "operations": ["grayscale"]}
    first = catalog.save_recipe("mine", {**spec, "version": 9}, "ann", "2026-11-01T00:00:00+00:00")
    assert (first["version"], first["spec"], first["saved_by"]) == (1, spec, "ann")
    catalog.save_recipe("other", spec, "ann", "2026-11-01T00:00:00+00:00")
    again = catalog.save_recipe("mine", {**spec, "operations": ["sepia"]}, "bob", "2026-11-02T00:00:00+00:00")
    assert again["version"] == 2 and again["spec"]["operations"] == ["sepia"]
    assert [(d["name"], d["version"]) for d in catalog.saved_recipes()] == [("mine", 2), ("other", 1)]
