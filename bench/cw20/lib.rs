//! Empty: this package pins cw20-base and its build profile; the module is cw20-base's own cdylib.
