INSERT INTO ops.backup_verifications (backup_id, method, passed, seconds, tables_checked, mismatches,
                                      amcheck_indexes, amcheck_errors, details, run_id)
VALUES (%(backup_id)s, %(method)s, %(passed)s, %(seconds)s, %(tables_checked)s, %(mismatches)s,
        %(amcheck_indexes)s, %(amcheck_errors)s, %(details)s, %(run_id)s)
RETURNING verification_id
