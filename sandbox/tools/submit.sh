# submit and validate only print markers: the environment sees them in the output and runs the evaluation.

# @yaml
# signature: submit
# docstring: submits your current code and terminates the session
submit() {
    echo "<<SUBMISSION||"
    echo "submitting file"
    echo "||SUBMISSION>>"
}

# @yaml
# signature: validate
# docstring: validates your current submission file and returns the metrics on test set
validate() {
    echo "<<VALIDATION||"
    echo "validating file"
    echo "||VALIDATION>>"
}
