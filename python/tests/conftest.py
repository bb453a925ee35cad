def pytest_report_header(config):
    # Which package and library are under test: the installed package or the
    # source tree's (python -m pytest run from python/ imports the latter).
    import albert_cl
    return f"albert_cl: {albert_cl.__file__}, library {albert_cl.library_path}"
