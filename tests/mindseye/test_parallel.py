"""Where parallel work runs: a scheduler's address that cannot be one is a user's mistake."""

import pytest

from mindseye.core.errors import UserError
from mindseye.core.parallel import parallel_backend


@pytest.mark.parametrize("address", ["bogus", "tcp://host:notaport"])
def test_an_address_that_is_no_address_names_the_option_and_the_form(address: str) -> None:
    with pytest.raises(UserError, match=f"--scheduler {address}: not a scheduler's address.*"
                                        "give tcp://HOST:PORT"), parallel_backend(address):
        pass
