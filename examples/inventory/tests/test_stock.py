import pytest

from inventory import Stock


def test_add_and_remove():
    stock = Stock()
    stock.add("apple", 5)
    stock.remove("apple", 2)
    assert stock.count("apple") == 3


def test_cannot_remove_more_than_stocked():
    stock = Stock()
    stock.add("pear", 1)
    with pytest.raises(ValueError):
        stock.remove("pear", 2)


def test_low_stock_includes_items_at_the_threshold():
    stock = Stock()
    stock.add("apple", 3)
    stock.add("kiwi", 10)
    stock.add("fig", 1)
    assert stock.low_stock(3) == ["apple", "fig"]
